/**
 * docker's `filters` query parameter: JSON `{"key": ["v1", "v2"]}`, or the older `{"key": {"v1": true}}`.
 * Each endpoint names the keys it accepts; anything else is docker's 400 `invalid filter 'x'`.
 */
import { badRequest } from './errors.js';

export type Filters = Map<string, string[]>;

export function parseFilters(raw: unknown, allowed: readonly string[]): Filters {
  const filters: Filters = new Map();
  if (raw === undefined || raw === '') return filters;
  if (typeof raw !== 'string') throw badRequest('invalid filters: give one JSON object');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw badRequest(`invalid filters: ${raw.slice(0, 100)} is not JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw badRequest('invalid filters: expected a JSON object');
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.includes(key)) throw badRequest(`invalid filter '${key}'`);
    let values: unknown[];
    if (Array.isArray(value)) values = value;
    else if (value !== null && typeof value === 'object') values = Object.entries(value).filter(([, on]) => on === true).map(([v]) => v);
    else throw badRequest(`invalid filter '${key}': expected a list of strings`);
    if (!values.every((v): v is string => typeof v === 'string')) throw badRequest(`invalid filter '${key}': expected a list of strings`);
    filters.set(key, [...(filters.get(key) ?? []), ...values]);
  }
  return filters;
}

/** `true`/`1` and `false`/`0`, as docker's boolean filters accept. */
export function boolFilter(filters: Filters, key: string): boolean | undefined {
  const values = filters.get(key);
  if (!values || values.length === 0) return undefined;
  const value = values[values.length - 1]!.toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw badRequest(`invalid filter '${key}=${value}': expected true or false`);
}

/** `label=key` or `label=key=value` against a label map. */
export function matchesLabels(filters: Filters, labels: Record<string, string> | undefined, key = 'label'): boolean {
  for (const spec of filters.get(key) ?? []) {
    const eq = spec.indexOf('=');
    const name = eq < 0 ? spec : spec.slice(0, eq);
    if (!labels || !(name in labels)) return false;
    if (eq >= 0 && labels[name] !== spec.slice(eq + 1)) return false;
  }
  return true;
}

/** A docker glob (`*` and `?`, path-like: `*` stops at `/`) as a RegExp. */
export function globPattern(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}
