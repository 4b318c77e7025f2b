/** Shell glob patterns for `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}` (`*`, `?`, `[…]`; others literal). */

function globToRegExpSource(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') out += '[\\s\\S]*';
    else if (ch === '?') out += '[\\s\\S]';
    else if (ch === '\\' && i + 1 < pattern.length) out += escapeRegExp(pattern[++i]!);
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        out += '[' + body.replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else out += escapeRegExp(ch);
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Removes the shortest (or longest) prefix/suffix of `value` matching `pattern`. */
export function trimPattern(value: string, pattern: string, side: 'prefix' | 'suffix', longest: boolean): string {
  const re = new RegExp('^(?:' + globToRegExpSource(pattern) + ')$');
  const lengths = [...Array(value.length + 1).keys()];
  if (longest) lengths.reverse();
  for (const n of lengths) {
    const part = side === 'prefix' ? value.slice(0, n) : value.slice(value.length - n);
    if (re.test(part)) return side === 'prefix' ? value.slice(n) : value.slice(0, value.length - n);
  }
  return value;
}

/** Replaces the first (or every) longest match of `pattern` in `value`. */
export function replacePattern(value: string, pattern: string, replacement: string, all: boolean): string {
  if (pattern === '') return value;
  const re = new RegExp(globToRegExpSource(pattern), all ? 'g' : '');
  return value.replace(re, () => replacement);
}
