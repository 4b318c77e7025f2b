import path from 'node:path';
import dockerignoreModule from '@balena/dockerignore';
import { checkPatterns } from './pattern-check.js';
import { readContextFile } from './context-file.js';
import { BuildError } from '../errors.js';

/** Decides whether a path (relative to the context root, `/`-separated, no leading `./`) is excluded. */
export type IgnoreMatcher = (relativePath: string) => boolean;

/** Matchers built here remember whether they have `!` exceptions, so a walk may skip excluded dirs safely. */
// The package is CommonJS (`module.exports = factory`, plus `.default`); its typings only describe `.default`.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;

const matchersWithoutExceptions = new WeakSet<IgnoreMatcher>();

/**
 * Builds a matcher from dockerignore-syntax patterns (`!` exceptions, `**`, parent dirs exclude their children),
 * cleaned as moby/patternmatcher cleans them (`./a`, `//a`, `a//b/` → `a`, `a/b`). Blank lines are dropped;
 * `#` comments are dropped by the .dockerignore reader, not here. A malformed pattern is an error.
 */
export function createMatcher(patterns: string[], what = '--exclude pattern'): IgnoreMatcher {
  const cleaned = patterns
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const negated = line.startsWith('!');
      let body = negated ? line.slice(1).trim() : line;
      if (body !== '') body = path.posix.normalize(body).replace(/^\/+/, '').replace(/\/+$/, '');
      if (body === '.') body = '';
      return negated ? `!${body}` : body;
    });
  checkPatterns(cleaned, what);
  // The library reads a leading `#` as a comment; here it is a pattern (comments never reach this), so escape it,
  // and it compiles patterns to RegExps without escaping ( ) + | { } ^ $, which Go's filepath.Match reads literally.
  const forLibrary = cleaned.filter((line) => line !== '' && line !== '!').map((line) => escapeRegexMeta(line).replace(/^(!?)#/, '$1\\#'));
  for (const line of forLibrary) checkPattern(line);
  const rules = dockerignore({ ignorecase: false }).add(forLibrary);
  const matcher: IgnoreMatcher = (relativePath) => {
    const normalized = normalizeRel(relativePath);
    return normalized !== '' && rules.ignores(normalized);
  };
  if (!cleaned.some((line) => line.startsWith('!'))) matchersWithoutExceptions.add(matcher);
  return matcher;
}

/**
 * The patterns of a .dockerignore file as moby/patternmatcher's ignorefile.ReadAll reads them: a UTF-8 BOM
 * is dropped, a line is a comment only when `#` is its very first character (`  #x` is a pattern), then
 * the line is trimmed.
 */
export function readIgnoreFile(text: string): string[] {
  return text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/**
 * The library turns patterns into RegExps without escaping `(`, `)`, `+`, `|`, `{`, `}`, `^` and `$`, so `a(b`
 * threw "Invalid regular expression" at the user and `x+` matched `xx`. Docker (Go filepath.Match) reads them
 * literally: escape them outside `[…]` classes.
 */
function escapeRegexMeta(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\' && i + 1 < pattern.length) {
      out += ch + pattern[++i]!;
    } else if (inClass) {
      if (ch === ']') inClass = false;
      out += ch;
    } else if (ch === '[') {
      inClass = true;
      out += ch;
    } else out += '()+|{}^$'.includes(ch) ? `\\${ch}` : ch;
  }
  return out;
}

/** A pattern the library cannot compile (a class like `[z-a]`) is the user's error, said as such. */
function checkPattern(line: string): void {
  try {
    dockerignore({ ignorecase: false }).add([line]).ignores('probe');
  } catch (err) {
    const shown = line.length > 100 ? `${line.slice(0, 100)}…` : line;
    throw new BuildError('INVALID_ARGUMENT', `invalid .dockerignore pattern "${shown}": ${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '')}`);
  }
}

/** True when nothing below an excluded directory can be re-included, so a walk need not descend into it. */
export function canSkipExcludedDir(matcher: IgnoreMatcher): boolean {
  return matchersWithoutExceptions.has(matcher);
}

/**
 * Reads `<dockerfile>.dockerignore` beside the Dockerfile if present (e.g. `Dockerfile.dockerignore`,
 * `app.Dockerfile.dockerignore`), else `.dockerignore` at the context root, else `.containerignore` there
 * (buildah/podman's name, same syntax; only when there is no .dockerignore). No file → matches nothing.
 * Both are resolved inside the context like COPY sources (a link cannot make us read a host file).
 */
export async function loadIgnore(contextDir: string, dockerfilePath?: string): Promise<IgnoreMatcher> {
  const candidates: string[] = [];
  if (dockerfilePath) {
    const absolute = path.resolve(contextDir, dockerfilePath);
    candidates.push(`${absolute}.dockerignore`);
  }
  candidates.push(path.join(contextDir, '.dockerignore'), path.join(contextDir, '.containerignore'));
  for (const candidate of candidates) {
    const file = await readContextFile(contextDir, candidate, { what: 'ignore file', maxBytes: MAX_IGNORE_BYTES });
    if (!file) continue;
    const text = file.content.toString('utf8');
    try {
      return createMatcher(readIgnoreFile(text), path.basename(candidate));
    } catch (err) {
      // BuildKit fails when the context is read, i.e. at the first step that uses it: so do we, with its line.
      return () => {
        throw err;
      };
    }
  }
  return createMatcher([]);
}

const MAX_IGNORE_BYTES = 1024 * 1024;

function normalizeRel(relativePath: string): string {
  const normalized = path.posix.normalize(relativePath).replace(/^\/+/, '');
  return normalized === '.' ? '' : normalized.replace(/\/+$/, '');
}
