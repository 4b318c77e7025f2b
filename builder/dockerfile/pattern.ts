/** Shell glob patterns for `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}` (`*`, `?`, `[…]`; others literal). */
import { BuildError } from '../errors.js';

/** More wildcards than this make backtracking explode on long values; no real Dockerfile needs them. */
const MAX_WILDCARDS = 16;

/** The pattern as a RegExp; a class JavaScript refuses (`[z-a]`) or a pattern too complex is a user error. */
function compile(pattern: string, anchored: boolean, flags = ''): RegExp {
  // `**` matches what `*` does; collapsing them keeps the regex from nesting quantifiers.
  const collapsed = pattern.replace(/\*{2,}/g, '*');
  if ((collapsed.match(/[*?]/g)?.length ?? 0) > MAX_WILDCARDS) {
    throw new BuildError('DOCKERFILE_INVALID', `pattern "${clip(pattern)}" in a variable substitution has more than ${MAX_WILDCARDS} wildcards`);
  }
  const source = globToRegExpSource(collapsed);
  try {
    return new RegExp(anchored ? `^(?:${source})$` : source, flags);
  } catch (err) {
    throw new BuildError('DOCKERFILE_INVALID', `invalid pattern "${clip(pattern)}" in a variable substitution: ${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '')}`);
  }
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

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
  const re = compile(pattern, true);
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
  const re = compile(pattern, false, all ? 'g' : '');
  return value.replace(re, () => replacement);
}
