import type { BuildError } from '../errors.js';

/**
 * Remembered by the build command: the Dockerfile's display name and the text the build read (resolved inside the
 * context by dockerfile/read-dockerfile.ts), so an excerpt quotes the Dockerfile and nothing a link points at.
 */
const sources = new Map<string, string>();

export function registerSource(displayName: string, content: string): void {
  sources.set(displayName, content);
}

/** Codes of errors about the text itself, where the file may not be a Dockerfile at all: quote the one line only. */
const PARSE_CODES = new Set(['DOCKERFILE_PARSE', 'UNKNOWN_INSTRUCTION']);
/** A quoted line is clipped: an excerpt is for finding the place, not for reading the file back. */
const MAX_QUOTED = 200;

/** BuildKit-style excerpt: a few lines around the failing one, marked with `>>>`. */
export function sourceExcerpt(err: BuildError): string | undefined {
  if (!err.file || !err.line) return undefined;
  const content = sources.get(err.file);
  if (content === undefined) return undefined;
  const lines = content.split('\n');
  if (err.line > lines.length) return undefined;
  const around = PARSE_CODES.has(err.code) ? 0 : 2;
  const first = Math.max(1, err.line - around);
  const last = Math.min(lines.length, err.line + around);
  const out = ['--------------------'];
  for (let n = first; n <= last; n++) {
    out.push(`${n === err.line ? ' >>>' : '    '} ${String(n).padStart(3)} | ${clip(lines[n - 1] ?? '')}`);
  }
  out.push('--------------------');
  return `${out.join('\n')}\n`;
}

function clip(line: string): string {
  const text = line.replace(/\r$/, '');
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text;
}
