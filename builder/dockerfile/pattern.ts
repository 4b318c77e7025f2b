/** Shell glob patterns for `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}` as BuildKit reads them (`*`, `?`; others literal). */
import { BuildError } from '../errors.js';

/** More wildcards than this make backtracking explode on long values; no real Dockerfile needs them. */
const MAX_WILDCARDS = 16;

/** The pattern as a RegExp; a bad escape or a pattern too complex is a user error. */
function compile(pattern: string, anchored: boolean, flags = ''): RegExp {
  const { source, wildcards } = globToRegExpSource(pattern);
  if (wildcards > MAX_WILDCARDS) {
    throw new BuildError('DOCKERFILE_INVALID', `pattern "${clip(pattern)}" in a variable substitution has more than ${MAX_WILDCARDS} wildcards`);
  }
  return new RegExp(anchored ? `^(?:${source})$` : source, flags);
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

/**
 * BuildKit's convertShellPatternToRegex: `*` and `?` are wildcards, `[` and `]` are literal (no bracket expressions),
 * `\*` `\?` `\\` are the literal characters, `\}` and `\/` lose the backslash, any other escape is an error.
 */
function globToRegExpSource(pattern: string): { source: string; wildcards: number } {
  let out = '';
  let wildcards = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      // `**` matches what `*` does; collapsing them keeps the regex from nesting quantifiers.
      while (pattern[i + 1] === '*') i++;
      out += '[\\s\\S]*';
      wildcards++;
    } else if (ch === '?') {
      out += '[\\s\\S]';
      wildcards++;
    }
    else if (ch === '\\') {
      const next = pattern[i + 1];
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') {
        throw new BuildError('DOCKERFILE_INVALID', `invalid pattern "${clip(pattern)}" in a variable substitution: invalid escape '\\${next ?? ''}'`);
      }
      out += escapeRegExp(next);
      i++;
    } else out += escapeRegExp(ch);
  }
  return { source: out, wildcards };
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

/**
 * Replaces the first (or every) longest match of `pattern` in `value`. An empty pattern matches the empty string
 * (`${V/$EMPTY/x}` prepends x), and the replacement is a Go regexp template as in BuildKit: `$0` is the match,
 * `$$` a dollar, any other `$name` empty.
 */
export function replacePattern(value: string, pattern: string, replacement: string, all: boolean): string {
  const re = compile(pattern, false, all ? 'g' : '');
  return value.replace(re, (match: string) => expandTemplate(replacement, match));
}

/** Go's Regexp.Expand with no capture groups: `$0`/`${0}` the whole match, `$$` a `$`, other names empty, a malformed `$` kept. */
function expandTemplate(template: string, match: string): string {
  if (!template.includes('$')) return template;
  return template.replace(/\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (whole: string, braced?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const name = braced ?? bare!;
    return /^\d+$/.test(name) && Number(name) === 0 ? match : '';
  });
}
