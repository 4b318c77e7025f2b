/**
 * The syntax check moby/patternmatcher makes before using a .dockerignore or --exclude pattern: Go's
 * filepath.Match grammar (`\` escapes, `[...]` classes with ranges, `[^...]` negation). BuildKit refuses
 * the whole context for one bad pattern ("syntax error in pattern"), and so do we.
 */
import { BuildError } from '../errors.js';

/** Reads one class character (escape-aware) at `i`; returns the index after it, or -1 when it may not be there. */
function classChar(pattern: string, i: number): number {
  const ch = pattern[i];
  if (ch === undefined || ch === '-' || ch === ']') return -1;
  if (ch === '\\') return i + 1 < pattern.length ? i + 2 : -1;
  return i + 1;
}

/** Whether `pattern` is well-formed for Go's filepath.Match. */
export function isValidPattern(pattern: string): boolean {
  for (let i = 0; i < pattern.length;) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      if (i + 1 >= pattern.length) return false;
      i += 2;
    } else if (ch === '[') {
      i++;
      if (pattern[i] === '^') i++;
      let ranges = 0;
      for (;;) {
        // A `]` right after the opening bracket is a literal member, as in Go.
        if (pattern[i] === ']' && ranges > 0) break;
        const lo = pattern[i] === ']' && ranges === 0 ? i + 1 : classChar(pattern, i);
        if (lo < 0) return false;
        i = lo;
        if (pattern[i] === '-') {
          i = classChar(pattern, i + 1);
          if (i < 0) return false;
        }
        ranges++;
      }
      i++; // the closing `]`
    } else {
      i++;
    }
  }
  return true;
}

/** Throws BuildKit's errors for a pattern list (`!` alone, or a malformed pattern); `what` names the source. */
export function checkPatterns(patterns: readonly string[], what: string): void {
  for (const pattern of patterns) {
    if (pattern === '!') throw new BuildError('INVALID_ARGUMENT', `invalid ${what}: illegal exclusion pattern: "!"`);
    const body = pattern.startsWith('!') ? pattern.slice(1) : pattern;
    if (!isValidPattern(body)) throw new BuildError('INVALID_ARGUMENT', `invalid ${what}: syntax error in pattern "${pattern}"`);
  }
}
