/** Parsing of GC settings: durations (`24h`, `1h30m`), sizes (`10g`), and `--filter` values. */
import { BuildError } from '../errors.js';
import { parseSize } from '../cli/options.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Go-style duration (`24h`, `1h30m`, `90s`, `500ms`, `2d`) → milliseconds. */
export function parseDuration(text: string, what: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000; // bare number: seconds, as docker's filters take it
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(trimmed); match; match = part.exec(trimmed)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    consumed = part.lastIndex;
  }
  if (consumed === 0 || consumed !== trimmed.length) {
    throw new BuildError('INVALID_ARGUMENT', `invalid ${what}: "${text}" (use a duration such as 24h, 30m or 1h30m)`);
  }
  return Math.round(total);
}

/** A byte size (`512m`, `10g`, `1073741824`); `what` names the setting in the error. */
export function parseByteSize(text: string, what: string): number {
  try {
    return parseSize(text)!;
  } catch {
    throw new BuildError('INVALID_ARGUMENT', `invalid ${what}: "${text}" (use a size such as 512m or 10g)`);
  }
}

/** `--filter until=24h` (repeatable; other keys are rejected) → the `until` age in ms, if given. */
export function parsePruneFilters(filters: string[]): number | undefined {
  let untilMs: number | undefined;
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    const key = eq < 0 ? filter : filter.slice(0, eq);
    if (key !== 'until' || eq < 0) {
      throw new BuildError('INVALID_ARGUMENT', `invalid filter "${filter}": only until=DURATION (e.g. until=24h) is supported`);
    }
    untilMs = parseDuration(filter.slice(eq + 1), 'filter until');
  }
  return untilMs;
}
