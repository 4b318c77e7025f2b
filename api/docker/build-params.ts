/**
 * `POST /build` query parameters, checked as dockerd checks them: JSON-valued ones (`buildargs`, `labels`,
 * `cachefrom`) must parse and have the right types, unknown network modes and platforms are 400s.
 */
import type { DaemonContext } from './daemon-context.js';
import { badRequest, notSupported } from './errors.js';
import { queryBool, queryString, type Query } from './images-query.js';

export interface BuildParams {
  tags: string[];
  dockerfile: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  quiet: boolean;
  network: 'host' | 'none';
  memoryBytes?: number;
  /** `remote=URL#ref:subdir`: a git repository to build instead of an uploaded tar. */
  git?: { url: string; ref: string; subdir: string };
}

/** docker's git remotes: `https://…/x.git`, `git://…`, `ssh://…`, `git@host:path`, `file://…`, with `#ref:subdir`. */
export function isGitRemote(remote: string): boolean {
  const url = remote.split('#')[0]!;
  return /^(git|ssh|file):\/\//.test(url) || /^[\w.-]+@[\w.-]+:/.test(url) || (/^https?:\/\//.test(url) && url.endsWith('.git'));
}

function gitRemote(remote: string): BuildParams['git'] {
  const [url = '', fragment = ''] = remote.split('#', 2);
  const [ref = '', subdir = ''] = fragment.split(':', 2);
  if (subdir.split('/').includes('..') || subdir.startsWith('/')) throw badRequest(`invalid remote subdirectory "${subdir}"`);
  return { url, ref: ref || 'HEAD', subdir };
}

function jsonParam(query: Query, name: string): unknown {
  const raw = queryString(query, name);
  if (raw === undefined || raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw badRequest(`invalid ${name}: not JSON: ${raw.slice(0, 100)}`);
  }
}

/** A JSON object of strings; `null` values (docker's "take it from the client's environment" with none there) drop out. */
function stringMap(query: Query, name: string): Record<string, string> {
  const value = jsonParam(query, name);
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest(`invalid ${name}: expected a JSON object of strings`);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null) continue;
    if (typeof v !== 'string') throw badRequest(`invalid ${name}: value of "${key}" must be a string, not ${typeof v}`);
    out[key] = v;
  }
  return out;
}

const HOST_PLATFORM = `linux/${({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch}`;

export function parseBuildParams(query: Query, _ctx: DaemonContext): BuildParams {
  if (queryString(query, 'version') === '2') throw notSupported('BuildKit builds (version=2); use DOCKER_BUILDKIT=0');
  const remote = queryString(query, 'remote') || undefined;
  if (remote && !isGitRemote(remote)) throw notSupported(`remote build contexts other than git repositories (remote=${remote.slice(0, 100)})`);
  const t = query.t;
  const tags = (t === undefined ? [] : Array.isArray(t) ? t : [t]).filter((tag) => tag !== '');
  const cacheFrom = jsonParam(query, 'cachefrom');
  if (cacheFrom !== undefined && cacheFrom !== null && !(Array.isArray(cacheFrom) && cacheFrom.every((c) => typeof c === 'string'))) {
    throw badRequest('invalid cachefrom: expected a JSON array of image names');
  }
  const networkMode = queryString(query, 'networkmode') ?? 'default';
  // There is no build bridge: RUN shares the host's network by default, as `builder build` does.
  const network = { default: 'host', bridge: 'host', host: 'host', none: 'none', '': 'host' }[networkMode] as BuildParams['network'] | undefined;
  if (!network) throw badRequest(`network mode "${networkMode}" is not supported for builds: use default, host or none`);
  const platform = queryString(query, 'platform');
  if (platform && platform !== HOST_PLATFORM && platform !== 'linux') throw badRequest(`platform "${platform}" is not supported: builder builds ${HOST_PLATFORM} only`);
  const memory = queryString(query, 'memory');
  if (memory !== undefined && memory !== '' && !/^\d+$/.test(memory)) throw badRequest(`invalid memory: "${memory}" is not a number of bytes`);
  queryBool(query, 'rm');
  queryBool(query, 'forcerm'); // accepted: the engine keeps no intermediate containers to remove
  const target = queryString(query, 'target');
  return {
    tags,
    dockerfile: queryString(query, 'dockerfile') || 'Dockerfile',
    buildArgs: stringMap(query, 'buildargs'),
    labels: stringMap(query, 'labels'),
    target: target === '' ? undefined : target,
    noCache: queryBool(query, 'nocache'),
    pull: queryBool(query, 'pull'),
    quiet: queryBool(query, 'q'),
    network,
    memoryBytes: memory && Number(memory) > 0 ? Number(memory) : undefined,
    git: remote ? gitRemote(remote) : undefined,
  };
}
