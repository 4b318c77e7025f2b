import { BuildError } from '../errors.js';

/** True when a path component uses Go filepath.Match syntax (`*`, `?`, `[`); `\` escapes. */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/** Splits `a/b/*.txt/c` into the literal prefix `a/b` and the pattern rest `*.txt/c` (BuildKit's splitWildcards). */
export function splitWildcards(source: string): { base: string; pattern: string } {
  const parts = source.split('/').filter((part) => part !== '' && part !== '.');
  const index = parts.findIndex(containsWildcards);
  if (index < 0) return { base: parts.join('/'), pattern: '' };
  return { base: parts.slice(0, index).join('/'), pattern: parts.slice(index).join('/') };
}

/** Compiled patterns; a worker sees every repository's patterns, so the memo is bounded. */
const compiled = new Map<string, RegExp>();
const MAX_COMPILED = 1000;

/**
 * Go `filepath.Match` semantics: `*` and `?` never cross `/`, `[a-z]`/`[^x]` classes, `\` escapes.
 * `**` is not special (it is two stars). A malformed pattern is a user error.
 */
export function wildcardMatch(pattern: string, name: string): boolean {
  let regex = compiled.get(pattern);
  if (!regex) {
    regex = new RegExp(`^${translate(pattern)}$`, 's');
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(pattern, regex);
  }
  return regex.test(name);
}

function translate(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else if (ch === '\\') {
      i++;
      if (i >= pattern.length) throw badPattern(pattern);
      out += escapeRegex(pattern[i]!);
    } else if (ch === '[') {
      const end = classEnd(pattern, i);
      out += translateClass(pattern.slice(i + 1, end), pattern);
      i = end;
    } else out += escapeRegex(ch);
  }
  return out;
}

/** Index of the `]` closing the class opened at `start`. */
function classEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === '^') i++;
  let first = true;
  for (; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') i++;
    else if (ch === ']' && !first) return i;
    first = false;
  }
  throw badPattern(pattern);
}

function translateClass(body: string, pattern: string): string {
  let negated = false;
  let i = 0;
  if (body[0] === '^') {
    negated = true;
    i = 1;
  }
  if (i >= body.length) throw badPattern(pattern);
  let out = '';
  while (i < body.length) {
    let lo = body[i]!;
    if (lo === '\\') lo = body[++i] ?? '';
    i++;
    if (body[i] === '-' && i + 1 < body.length) {
      let hi = body[i + 1]!;
      i += 2;
      if (hi === '\\') hi = body[i++] ?? '';
      if (hi < lo) throw badPattern(pattern);
      out += `${escapeClassChar(lo)}-${escapeClassChar(hi)}`;
    } else out += escapeClassChar(lo);
  }
  // Like `*`, a class never matches the separator.
  return negated ? `(?!/)[^${out}]` : `(?!/)[${out}]`;
}

function escapeRegex(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function escapeClassChar(ch: string): string {
  return ch.replace(/[\]\\^\-[]/g, '\\$&');
}

function badPattern(pattern: string): BuildError {
  return new BuildError('DOCKERFILE_INVALID', `invalid source pattern "${pattern}": syntax error in pattern`);
}
