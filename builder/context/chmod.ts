/**
 * Symbolic `--chmod` modes (`u+x`, `go-w`, `a=rX`, `u=rwx,g=rx,o=`), applied to each copied file's own
 * mode as BuildKit's copier applies them (github.com/tonistiigi/dchapes-mode, chmod(1) grammar): `X` adds
 * execute only to directories and to files that already have an execute bit, `s` is setuid/setgid for
 * u/g, `t` the sticky bit; no `who` means all. The planner has already checked the syntax.
 */
const WHO_BITS: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };
const CLAUSE = /^([ugoa]*)((?:[-+=][rwxXst]*)+)$/;

export function applySymbolicMode(spec: string, mode: number, isDir: boolean): number {
  let result = mode & 0o7777;
  for (const clause of spec.split(',')) {
    const match = CLAUSE.exec(clause);
    if (!match) throw new Error(`invalid mode clause "${clause}"`);
    const who = match[1] === '' ? 'a' : match[1]!;
    const whoMask = [...who].reduce((mask, ch) => mask | WHO_BITS[ch]!, 0);
    for (const action of match[2]!.match(/[-+=][rwxXst]*/g) ?? []) {
      const op = action[0]!;
      let bits = 0;
      for (const perm of action.slice(1)) {
        if (perm === 'r') bits |= 0o444;
        else if (perm === 'w') bits |= 0o222;
        else if (perm === 'x') bits |= 0o111;
        else if (perm === 'X' && (isDir || (result & 0o111) !== 0)) bits |= 0o111;
        else if (perm === 's') bits |= 0o6000;
        else if (perm === 't') bits |= 0o1000;
      }
      bits &= whoMask;
      if (op === '+') result |= bits;
      else if (op === '-') result &= ~bits;
      else result = (result & ~whoMask) | bits;
    }
  }
  return result & 0o7777;
}
