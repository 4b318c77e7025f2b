import { BuildError } from '../errors.js';
import type { ListFilters } from './docker-types.js';
import type { ContainerRecord, ContainerStateRecord } from './record.js';

const KNOWN = ['status', 'name', 'label', 'ancestor', 'id', 'exited', 'health', 'before', 'since'];
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** `--filter k=v` strings → the API's filters map. */
export function parseFilterFlags(flags: string[]): ListFilters {
  const filters: ListFilters = {};
  for (const flag of flags) {
    const at = flag.indexOf('=');
    if (at <= 0) throw new BuildError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${flag}`);
    const key = flag.slice(0, at).toLowerCase();
    (filters[key] ??= []).push(flag.slice(at + 1));
  }
  return filters;
}

export function checkFilters(filters: ListFilters): void {
  for (const [key, values] of Object.entries(filters)) {
    if (!KNOWN.includes(key)) throw new BuildError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    if (key === 'status') {
      for (const value of values) {
        if (!STATUSES.includes(value)) throw new BuildError('INVALID_ARGUMENT', `invalid filter 'status=${value}'`);
      }
    }
  }
}

/** Docker's semantics: values of one key are OR-ed, keys are AND-ed; name matches a substring, label k or k=v. */
export function matchesFilters(record: ContainerRecord, state: ContainerStateRecord, filters: ListFilters): boolean {
  const checks: Record<string, (value: string) => boolean> = {
    // The list resolves before=/since= references to their creation times (list() in service.ts).
    before: (created) => record.created < created,
    since: (created) => record.created > created,
    status: (value) => state.status === value,
    name: (value) => record.name.includes(value.replace(/^\//, '')),
    id: (value) => record.id.startsWith(value),
    exited: (value) => state.status === 'exited' && String(state.exitCode) === value,
    health: (value) => (state.health?.Status ?? 'none') === value,
    label: (value) => {
      const at = value.indexOf('=');
      const labels = record.config.Labels ?? {};
      return at < 0 ? value in labels : labels[value.slice(0, at)] === value.slice(at + 1);
    },
    ancestor: (value) => record.image === value || record.image === `${value}:latest` || `${record.image}:latest` === value
      || record.imageId.replace(/^sha256:/, '').startsWith(value.replace(/^sha256:/, '')),
  };
  return Object.entries(filters).every(([key, values]) => values.length === 0 || values.some((value) => checks[key]!(value)));
}
