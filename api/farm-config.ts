/**
 * The farm's settings: the `[api]`, `[worker]` and `[webhooks]` sections of the builder config file
 * (BuilderConfig.raw), overridden by the environment so a k8s Secret or a test needs no file.
 * Keys are snake_case in the file; camelCase is accepted too. See docs/ARCHITECTURE.md "## Farm".
 */
import { loadConfig, type BuilderConfig } from '../builder/config.js';
import { BuildError } from '../builder/errors.js';
import { validateTag } from '../builder/request.js';
import { gitPolicyFromConfig, type GitPolicy } from '../builder/git-policy.js';

/** Scopes a token can hold: `read` (status, logs, list), `build` (submit), `cancel`. */
export type TokenScope = 'read' | 'build' | 'cancel';
export const ALL_SCOPES: TokenScope[] = ['read', 'build', 'cancel'];

/** One API bearer token. */
export interface ApiToken {
  name: string;
  token: string;
  scopes: TokenScope[];
}

/**
 * Which tags a webhook push of a repository gets: `{sha}`, `{short_sha}`, `{branch}`, `{tag}`, `{ref}` and `{repo}` are
 * replaced. A template with `{branch}` is skipped for a tag push, one with `{tag}` for a branch push.
 */
export interface RepositoryRule {
  /** `org/app` (GitHub full_name, GitLab path_with_namespace); `*` matches every repository. */
  repository: string;
  tags: string[];
  dockerfile: string;
  /** Only these branches build (default: all). */
  branches?: string[];
  /** Only git tags matching these patterns (`*` wildcards) build (default: all tags). */
  gitTags?: string[];
  push: boolean;
  /** Clone URL override (default: the URL in the payload). */
  url?: string;
}

/** Everything `builder serve` and `builder worker` read. */
export interface FarmConfig {
  redisUrl: string;
  /** BullMQ queue name; also the prefix of every farm key in Redis. */
  queue: string;
  api: {
    host: string;
    port: number;
    /** Largest accepted context upload (the request body, compressed or not). */
    maxContextBytes: number;
    /** Largest unpacked context: guards against gzip bombs. */
    maxUnpackedBytes: number;
    /** How long an uploaded context stays in Redis for workers to fetch. */
    contextTtlSeconds: number;
    tokens: ApiToken[];
    /** BullMQ priorities (1 is served first). */
    interactivePriority: number;
    webhookPriority: number;
  };
  worker: {
    concurrency: number;
    /** Attempts per build for infrastructure errors (user errors never retry). */
    attempts: number;
    stalledIntervalMs: number;
    lockDurationMs: number;
    /** SIGTERM: a running build gets this long to finish, then it is requeued. */
    gracePeriodMs: number;
    /** RUN's network: `isolated` (default) is a netns on builder's build bridge that cannot reach the worker (issue 14). */
    network: 'host' | 'none' | 'isolated';
    /** `RUN --network=host` is refused unless this is set (BuildKit's network.host entitlement). */
    allowHostNetwork: boolean;
    /** The isolated network's extra allow/deny CIDRs (`allow_cidrs`, `deny_cidrs`). */
    networkPolicy: { allowCidrs: string[]; denyCidrs: string[] };
    /** The farm's shared layer cache: blobs in this registry repository (HOST/REPO), index in the queue's Redis. */
    cacheRepo?: string;
    /** `shared` (Redis + registry only) or `tiered` (local records first, then shared; the default). */
    cacheMode: 'shared' | 'tiered';
    /** LRU bound of the shared index, in records. */
    cacheMaxRecords: number;
    /** Every this many seconds one worker of the farm (a Redis lock) runs `prune --shared`; 0 = never. */
    cacheGcIntervalS: number;
  };
  webhooks: {
    githubSecret?: string; gitlabToken?: string; giteaSecret?: string; repositories: RepositoryRule[];
    /** A push of the same repository + commit + Dockerfile + tags within this many seconds is not built again (0: off). */
    dedupeWindowSeconds: number;
  };
  /** `[git]`: which git URLs submissions, webhooks and ADD may fetch (https and ssh by default). */
  git: GitPolicy;
}

type Section = Record<string, unknown>;

function section(raw: Record<string, unknown>, name: string): Section {
  const value = raw[name];
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BuildError('INVALID_ARGUMENT', `config: [${name}] must be a section (a table of keys)`);
  }
  return value as Section;
}

function pick(sec: Section, snake: string): unknown {
  const camel = snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return sec[snake] ?? sec[camel];
}

function num(sec: Section, where: string, key: string, fallback: number): number {
  const value = pick(sec, key);
  if (value === undefined) return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new BuildError('INVALID_ARGUMENT', `config: [${where}] ${key} must be a non-negative number`);
  return n;
}

function str(sec: Section, where: string, key: string): string | undefined {
  const value = pick(sec, key);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BuildError('INVALID_ARGUMENT', `config: [${where}] ${key} must be a string`);
  return value;
}

function strings(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new BuildError('INVALID_ARGUMENT', `config: ${what} must be a list of strings`);
  return value as string[];
}

function parseScopes(value: unknown, what: string): TokenScope[] {
  if (value === undefined) return [...ALL_SCOPES];
  const list = typeof value === 'string' ? value.split('+') : strings(value, what);
  for (const scope of list) {
    if (!ALL_SCOPES.includes(scope as TokenScope)) throw new BuildError('INVALID_ARGUMENT', `config: ${what}: unknown scope "${scope}" (want ${ALL_SCOPES.join(', ')})`);
  }
  return list as TokenScope[];
}

/** `name:token[:scope+scope]`, comma-separated (BUILDER_API_TOKENS). */
export function parseTokenList(text: string): ApiToken[] {
  return text.split(',').map((item) => item.trim()).filter(Boolean).map((item) => {
    const [name, token, scopes] = item.split(':');
    if (!name || !token) throw new BuildError('INVALID_ARGUMENT', `BUILDER_API_TOKENS: "${item.replace(/:.*/, ':…')}" is not name:token`);
    return { name, token, scopes: parseScopes(scopes, `token ${name}`) };
  });
}

function parseRules(value: unknown): RepositoryRule[] {
  if (value === undefined) return [];
  // Either a list of tables with `repository`, or a table keyed by repository.
  const entries: [string | undefined, Section][] = Array.isArray(value)
    ? value.map((v) => [undefined, v as Section])
    : Object.entries(value as Record<string, Section>);
  return entries.map(([key, rule]) => {
    const repository = key ?? (typeof rule?.repository === 'string' ? rule.repository : undefined);
    if (!repository) throw new BuildError('INVALID_ARGUMENT', 'config: [webhooks] every repository rule needs `repository`');
    const tags = strings(pick(rule, 'tags'), `[webhooks] ${repository} tags`);
    for (const tag of tags) {
      if (tag.includes('{branch}') && tag.includes('{tag}')) throw new BuildError('INVALID_ARGUMENT', `config: [webhooks] ${repository} tag "${tag}": {branch} and {tag} never both apply (a push is of a branch or of a tag)`);
      validateTag(expandTemplate(tag, { sha: 'a'.repeat(40), branch: 'main', repo: 'repo' }) ?? expandTemplate(tag, { sha: 'a'.repeat(40), tag: 'v1.0.0', repo: 'repo' })!);
    }
    const push = pick(rule, 'push');
    return {
      repository, tags,
      dockerfile: str(rule, 'webhooks', 'dockerfile') ?? 'Dockerfile',
      branches: pick(rule, 'branches') === undefined ? undefined : strings(pick(rule, 'branches'), `[webhooks] ${repository} branches`),
      gitTags: pick(rule, 'git_tags') === undefined ? undefined : strings(pick(rule, 'git_tags'), `[webhooks] ${repository} git_tags`),
      push: push === undefined ? tags.length > 0 : push === true,
      url: str(rule, 'webhooks', 'url'),
    };
  });
}

/**
 * Fills `{sha}`, `{short_sha}`, `{branch}` / `{tag}` / `{ref}` (the branch or tag name, with what a tag cannot hold
 * → `-`) and `{repo}`. Undefined when the template names a `{branch}` and this is a tag push, or the reverse.
 */
export function expandTemplate(template: string, values: { sha: string; branch?: string; tag?: string; repo: string }): string | undefined {
  if ((template.includes('{branch}') && values.branch === undefined) || (template.includes('{tag}') && values.tag === undefined)) return undefined;
  const clean = (name: string): string => name.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[.-]+/, '').slice(0, 128) || 'ref';
  const ref = values.branch ?? values.tag ?? '';
  return template
    .replaceAll('{sha}', values.sha)
    .replaceAll('{short_sha}', values.sha.slice(0, 12))
    .replaceAll('{branch}', values.branch === undefined ? '' : clean(values.branch))
    .replaceAll('{tag}', values.tag === undefined ? '' : clean(values.tag))
    .replaceAll('{ref}', clean(ref))
    .replaceAll('{repo}', values.repo);
}

/** Builds the farm config from BuilderConfig.raw and the environment (the environment wins). */
export function farmConfig(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): FarmConfig {
  const api = section(raw, 'api');
  const worker = section(raw, 'worker');
  const hooks = section(raw, 'webhooks');
  const configTokens = (pick(api, 'tokens') ?? []) as unknown;
  if (!Array.isArray(configTokens)) throw new BuildError('INVALID_ARGUMENT', 'config: [api] tokens must be a list of { name, token, scopes }');
  const tokens: ApiToken[] = configTokens.map((t: Section, i) => {
    if (typeof t?.name !== 'string' || typeof t.token !== 'string') throw new BuildError('INVALID_ARGUMENT', `config: [api] tokens[${i}] needs name and token`);
    return { name: t.name, token: t.token, scopes: parseScopes(t.scopes, `[api] tokens[${i}] scopes`) };
  });
  if (env.BUILDER_API_TOKENS) tokens.push(...parseTokenList(env.BUILDER_API_TOKENS));
  const network = env.BUILDER_WORKER_NETWORK ?? str(worker, 'worker', 'network') ?? 'isolated';
  if (network !== 'host' && network !== 'none' && network !== 'isolated') {
    throw new BuildError('INVALID_ARGUMENT', 'config: [worker] network must be isolated, host or none');
  }
  const allowHost = pick(worker, 'allow_host_network') ?? false;
  if (typeof allowHost !== 'boolean') throw new BuildError('INVALID_ARGUMENT', 'config: [worker] allow_host_network must be true or false');
  const cacheMode = str(worker, 'worker', 'cache_mode') ?? 'tiered';
  if (cacheMode !== 'shared' && cacheMode !== 'tiered') throw new BuildError('INVALID_ARGUMENT', 'config: [worker] cache_mode must be shared or tiered');
  const cacheRepo = env.BUILDER_CACHE_REPO ?? str(worker, 'worker', 'cache_repo');
  if (cacheRepo !== undefined && !/^[^/\s]+\/[a-z0-9._/-]+$/.test(cacheRepo)) {
    throw new BuildError('INVALID_ARGUMENT', `config: [worker] cache_repo / BUILDER_CACHE_REPO "${cacheRepo}" is not HOST/REPOSITORY`);
  }
  return {
    redisUrl: env.BUILDER_REDIS_URL ?? str(worker, 'worker', 'redis') ?? str(api, 'api', 'redis') ?? 'redis://127.0.0.1:6379',
    queue: env.BUILDER_QUEUE ?? str(worker, 'worker', 'queue') ?? 'builds',
    api: {
      host: str(api, 'api', 'host') ?? '0.0.0.0',
      port: num(api, 'api', 'port', 8080),
      maxContextBytes: num(api, 'api', 'max_context_bytes', 100 * 1024 * 1024),
      maxUnpackedBytes: num(api, 'api', 'max_unpacked_bytes', 1024 * 1024 * 1024),
      contextTtlSeconds: num(api, 'api', 'context_ttl_seconds', 24 * 3600),
      tokens,
      interactivePriority: num(api, 'api', 'interactive_priority', 1),
      webhookPriority: num(api, 'api', 'webhook_priority', 10),
    },
    worker: {
      concurrency: Math.max(1, num(worker, 'worker', 'concurrency', 1)),
      attempts: Math.max(1, num(worker, 'worker', 'attempts', 3)),
      stalledIntervalMs: num(worker, 'worker', 'stalled_interval_ms', 30_000),
      lockDurationMs: num(worker, 'worker', 'lock_duration_ms', 30_000),
      gracePeriodMs: num(worker, 'worker', 'grace_period_ms', 60_000),
      network,
      allowHostNetwork: allowHost,
      networkPolicy: {
        allowCidrs: strings(pick(worker, 'allow_cidrs'), '[worker] allow_cidrs'),
        denyCidrs: strings(pick(worker, 'deny_cidrs'), '[worker] deny_cidrs'),
      },
      cacheRepo,
      cacheMode,
      cacheMaxRecords: Math.max(1, num(worker, 'worker', 'cache_max_records', 100_000)),
      cacheGcIntervalS: Math.max(0, env.BUILDER_CACHE_GC_INTERVAL_S !== undefined && /^\d+$/.test(env.BUILDER_CACHE_GC_INTERVAL_S)
        ? Number(env.BUILDER_CACHE_GC_INTERVAL_S) : num(worker, 'worker', 'cache_gc_interval_s', 0)),
    },
    git: gitPolicyFromConfig(raw.git === undefined ? undefined : section(raw, 'git')),
    webhooks: {
      githubSecret: env.BUILDER_GITHUB_WEBHOOK_SECRET ?? str(hooks, 'webhooks', 'github_secret'),
      gitlabToken: env.BUILDER_GITLAB_WEBHOOK_TOKEN ?? str(hooks, 'webhooks', 'gitlab_token'),
      giteaSecret: env.BUILDER_GITEA_WEBHOOK_SECRET ?? str(hooks, 'webhooks', 'gitea_secret'),
      repositories: parseRules(pick(hooks, 'repositories')),
      dedupeWindowSeconds: num(hooks, 'webhooks', 'dedupe_window_seconds', 3600),
    },
  };
}

/** Reads the config file (`file`, else BUILDER_CONFIG): the farm's part, and the whole (registries for pushes). */
export async function loadFarmConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Promise<{ farm: FarmConfig; builder: BuilderConfig }> {
  const builder = await loadConfig(file ?? env.BUILDER_CONFIG);
  return { farm: farmConfig(builder.raw, env), builder };
}
