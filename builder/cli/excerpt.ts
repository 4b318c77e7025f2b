import { readFileSync } from 'node:fs';
import type { BuildError } from '../errors.js';

/** Remembered by the build command: the Dockerfile's path and display name, to quote lines from. */
const sources = new Map<string, string>();

export function registerSource(displayName: string, filePath: string): void {
  sources.set(displayName, filePath);
}

/** BuildKit-style excerpt: a few lines around the failing one, marked with `>>>`. */
export function sourceExcerpt(err: BuildError): string | undefined {
  if (!err.file || !err.line) return undefined;
  const filePath = sources.get(err.file);
  if (!filePath) return undefined;
  let lines: string[];
  try {
    lines = readFileSync(filePath, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const first = Math.max(1, err.line - 2);
  const last = Math.min(lines.length, err.line + 2);
  const out = ['--------------------'];
  for (let n = first; n <= last; n++) {
    out.push(`${n === err.line ? ' >>>' : '    '} ${String(n).padStart(3)} | ${lines[n - 1] ?? ''}`);
  }
  out.push('--------------------');
  return `${out.join('\n')}\n`;
}
