import { readFile } from 'node:fs/promises';
import path from 'node:path';
import dockerignoreModule from '@balena/dockerignore';
import { checkPatterns } from './pattern-check.js';

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
  // The library reads a leading `#` as a comment; here it is a pattern (comments never reach this), so escape it.
  const forLibrary = cleaned.filter((line) => line !== '').map((line) => line.replace(/^(!?)#/, '$1\\#'));
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

/** True when nothing below an excluded directory can be re-included, so a walk need not descend into it. */
export function canSkipExcludedDir(matcher: IgnoreMatcher): boolean {
  return matchersWithoutExceptions.has(matcher);
}

/**
 * Reads `<dockerfile>.dockerignore` beside the Dockerfile if present (e.g. `Dockerfile.dockerignore`,
 * `app.Dockerfile.dockerignore`), else `.dockerignore` at the context root. No file → matches nothing.
 */
export async function loadIgnore(contextDir: string, dockerfilePath?: string): Promise<IgnoreMatcher> {
  const candidates: string[] = [];
  if (dockerfilePath) {
    const absolute = path.resolve(contextDir, dockerfilePath);
    candidates.push(`${absolute}.dockerignore`);
  }
  candidates.push(path.join(contextDir, '.dockerignore'));
  for (const candidate of candidates) {
    let text: string;
    try {
      text = await readFile(candidate, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
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

function normalizeRel(relativePath: string): string {
  const normalized = path.posix.normalize(relativePath).replace(/^\/+/, '');
  return normalized === '.' ? '' : normalized.replace(/\/+$/, '');
}
