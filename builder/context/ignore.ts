import path from 'node:path';
import dockerignoreModule from '@balena/dockerignore';
import { readContextFile } from './context-file.js';
import { BuildError } from '../errors.js';

/** Decides whether a path (relative to the context root, `/`-separated, no leading `./`) is excluded. */
export type IgnoreMatcher = (relativePath: string) => boolean;

/** Matchers built here remember whether they have `!` exceptions, so a walk may skip excluded dirs safely. */
// The package is CommonJS (`module.exports = factory`, plus `.default`); its typings only describe `.default`.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;

const matchersWithoutExceptions = new WeakSet<IgnoreMatcher>();

/**
 * Builds a matcher from dockerignore-syntax patterns (`!` exceptions, `**`, parent dirs exclude their children).
 * Blank lines and `#` comments are dropped, as Docker does.
 */
export function createMatcher(patterns: string[]): IgnoreMatcher {
  const cleaned = patterns
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    // Docker treats a leading `/` (or `./`) as the context root; the library expects a relative pattern.
    .map((line) => {
      const negated = line.startsWith('!');
      let body = negated ? line.slice(1).trim() : line;
      body = path.posix.normalize(body).replace(/^\/+/, '');
      if (body === '.') body = '';
      return negated ? `!${escapeRegexMeta(body)}` : escapeRegexMeta(body);
    })
    .filter((line) => line !== '' && line !== '!');
  for (const line of cleaned) checkPattern(line);
  const rules = dockerignore({ ignorecase: false }).add(cleaned);
  const matcher: IgnoreMatcher = (relativePath) => {
    const normalized = normalizeRel(relativePath);
    return normalized !== '' && rules.ignores(normalized);
  };
  if (!cleaned.some((line) => line.startsWith('!'))) matchersWithoutExceptions.add(matcher);
  return matcher;
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
 * `app.Dockerfile.dockerignore`), else `.dockerignore` at the context root. No file → matches nothing.
 * Both are resolved inside the context like COPY sources (a link cannot make us read a host file).
 */
export async function loadIgnore(contextDir: string, dockerfilePath?: string): Promise<IgnoreMatcher> {
  const candidates: string[] = [];
  if (dockerfilePath) {
    const absolute = path.resolve(contextDir, dockerfilePath);
    candidates.push(`${absolute}.dockerignore`);
  }
  candidates.push(path.join(contextDir, '.dockerignore'));
  for (const candidate of candidates) {
    const file = await readContextFile(contextDir, candidate, { what: 'ignore file', maxBytes: MAX_IGNORE_BYTES });
    if (!file) continue;
    return createMatcher(file.content.toString('utf8').split(/\r?\n/));
  }
  return createMatcher([]);
}

const MAX_IGNORE_BYTES = 1024 * 1024;

function normalizeRel(relativePath: string): string {
  const normalized = path.posix.normalize(relativePath).replace(/^\/+/, '');
  return normalized === '.' ? '' : normalized.replace(/\/+$/, '');
}
