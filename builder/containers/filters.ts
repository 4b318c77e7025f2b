/**
 * `docker ps --filter` as dockerd 20.10 answers it (moby daemon/list.go, checked against a live dockerd): keys are
 * AND-ed, the values of one key OR-ed (label's AND-ed); bad values are errors in dockerd's words.
 */
import { BuildError } from '../errors.js';
import type { ListFilters } from './docker-types.js';
import { summarize } from './inspect.js';
import { configuredNetworks } from './resources.js';
import type { ContainerRecord, ContainerStateRecord } from './record.js';

const KNOWN = [
  'status', 'name', 'label', 'ancestor', 'id', 'exited', 'health', 'before', 'since', 'network', 'volume', 'publish',
  'expose', 'isolation', 'is-task',
];
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
const HEALTH = ['starting', 'healthy', 'unhealthy', 'none'];

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

/** `80`, `80/udp`, `8000-8080/tcp` → the set of `port/proto` keys (nat.ParsePortRange; the default proto is tcp). */
export function portFilter(key: string, value: string): Set<string> {
  if (value.includes(':')) throw new BuildError('INVALID_ARGUMENT', `filter for '${key}' should not contain ':': ${value}`);
  const slash = value.indexOf('/');
  const [range, proto] = slash < 0 ? [value, 'tcp'] : [value.slice(0, slash), value.slice(slash + 1).toLowerCase() || 'tcp'];
  const parse = (text: string): number => {
    if (!/^\d+$/.test(text) || Number(text) > 65535) {
      throw new BuildError('INVALID_ARGUMENT', `error while looking up for ${key} ${value}: strconv.ParseUint: parsing "${text}": invalid syntax`);
    }
    return Number(text);
  };
  const dash = range.indexOf('-');
  const start = parse(dash < 0 ? range : range.slice(0, dash));
  const end = dash < 0 ? start : parse(range.slice(dash + 1));
  if (end < start) throw new BuildError('INVALID_ARGUMENT', `error while looking up for ${key} ${value}: invalid range specified for port: ${range}`);
  const ports = new Set<string>();
  for (let port = start; port <= end && ports.size < 65536; port++) ports.add(`${port}/${proto}`);
  return ports;
}

export function checkFilters(filters: ListFilters): void {
  for (const [key, values] of Object.entries(filters)) {
    if (!KNOWN.includes(key)) throw new BuildError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    for (const value of values) {
      if (key === 'status' && !STATUSES.includes(value)) throw new BuildError('INVALID_ARGUMENT', `Invalid filter 'status=${value}'`);
      if (key === 'health' && !HEALTH.includes(value)) throw new BuildError('INVALID_ARGUMENT', `Unrecognised filter value for health: ${value}`);
      if (key === 'exited' && !/^[+-]?\d+$/.test(value)) throw new BuildError('INVALID_ARGUMENT', `strconv.Atoi: parsing ${JSON.stringify(value)}: invalid syntax`);
      if (key === 'publish' || key === 'expose') portFilter(key, value);
      if (key === 'is-task' && value !== 'true' && value !== 'false') throw new BuildError('INVALID_ARGUMENT', `Invalid filter 'is-task=${value}'`);
    }
  }
}

/** Go's regexp.MatchString as dockerd's filters.Match uses it; an invalid pattern matches nothing. */
function regexMatch(pattern: string, text: string): boolean {
  try {
    return new RegExp(pattern).test(text);
  } catch {
    return false;
  }
}

/** The networks a container is on: its live endpoints, else the ones it was created for (dockerd keeps those). */
function networkNames(record: ContainerRecord, state: ContainerStateRecord): { name: string; id?: string }[] {
  const live = state.attachment?.endpoints ?? [];
  if (live.length > 0) return live.map((endpoint) => ({ name: endpoint.network, id: endpoint.networkId }));
  const mode = record.hostConfig.NetworkMode || 'default';
  if (mode === 'host' || mode === 'none') return [{ name: mode }];
  return configuredNetworks(record).map((name) => ({ name }));
}

/** Docker's semantics: values of one key are OR-ed, keys are AND-ed. */
export function matchesFilters(record: ContainerRecord, state: ContainerStateRecord, filters: ListFilters): boolean {
  let summary: ReturnType<typeof summarize> | undefined;
  const summaryOf = (): ReturnType<typeof summarize> => (summary ??= summarize(record, state));
  const ports = (key: 'publish' | 'expose', value: string): boolean => {
    const wanted = portFilter(key, value);
    return summaryOf().Ports.some((port) => (key === 'publish'
      ? port.PublicPort !== undefined && port.PublicPort > 0 && wanted.has(`${port.PublicPort}/${port.Type}`)
      : wanted.has(`${port.PrivatePort}/${port.Type}`)));
  };
  const checks: Record<string, (value: string) => boolean> = {
    // The list resolves before=/since= references to their creation times (list() in service.ts).
    before: (created) => record.created < created,
    since: (created) => record.created > created,
    status: (value) => state.status === value,
    // A regular expression, matched against the name with and without its leading slash.
    name: (value) => regexMatch(value, `/${record.name}`) || regexMatch(value, record.name),
    id: (value) => record.id.startsWith(value),
    exited: (value) => state.status === 'exited' && state.exitCode === Number(value),
    health: (value) => (state.health?.Status ?? 'none') === value,
    label: (value) => {
      const at = value.indexOf('=');
      const labels = record.config.Labels ?? {};
      return at < 0 ? value in labels : labels[value.slice(0, at)] === value.slice(at + 1);
    },
    ancestor: (value) => record.image === value || record.image === `${value}:latest` || `${record.image}:latest` === value
      || record.imageId.replace(/^sha256:/, '').startsWith(value.replace(/^sha256:/, '')),
    network: (value) => networkNames(record, state).some((network) => network.name === value || (network.id !== undefined && network.id.startsWith(value))),
    // A volume's name (a bind's source) or the path it is mounted at.
    volume: (value) => summaryOf().Mounts.some((mount) => mount.Destination === value || (mount.Name ? mount.Name === value : mount.Source === value)),
    publish: (value) => ports('publish', value),
    expose: (value) => ports('expose', value),
    isolation: (value) => ((record.hostConfig as { Isolation?: string }).Isolation || 'default') === value,
    'is-task': (value) => value === 'false',
  };
  // label= is the exception: moby's MatchKVList wants every given label (docker-compose filters on project AND service).
  return Object.entries(filters).every(([key, values]) => values.length === 0
    || (key === 'label' ? values.every((value) => checks[key]!(value)) : values.some((value) => checks[key]!(value))));
}
