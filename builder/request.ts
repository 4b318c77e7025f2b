/**
 * BuildRequest: what to build, as the CLI (`--remote`), the API and the worker all speak it.
 * It is the BullMQ job data, so it is plain JSON: no functions, no buffers.
 */
import { BuildError } from './errors.js';
import { parseReference } from './image/reference.js';
import { checkGitUrl, DEFAULT_GIT_POLICY, type GitPolicy } from './git-policy.js';

/** Where the build context comes from. */
export type ContextSource =
  /** A tar (optionally gzip) uploaded to the API, stored under its sha256 so any worker can fetch it. */
  | { kind: 'upload'; digest: string; size: number; gzip: boolean }
  /** A git repository: `ref` is a branch, a tag or a full commit sha. */
  | { kind: 'git'; url: string; ref: string };

/** One build, as queued: the job data of the `builds` queue. */
export interface BuildRequest {
  context: ContextSource;
  /** Dockerfile path inside the context (default `Dockerfile`). */
  dockerfile: string;
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  noCache: boolean;
  /** Push every tag to its registry after the build. */
  push: boolean;
  /** For listing and filtering: `org/app` for webhooks, the git URL, or `upload`. */
  repository: string;
  /** Why it was built: an interactive submission or a webhook delivery. */
  trigger: { kind: 'api'; tokenName: string } | {
    kind: 'webhook'; provider: 'github' | 'gitlab' | 'gitea'; delivery: string;
    /** The pushed branch, or for a tag push the tag's name (then `tag` is set too). */
    branch: string; tag?: string; sha: string;
  };
}

const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SHA = /^[0-9a-f]{40}$/;

/** Checks the user-controlled fields of a request; throws INVALID_* BuildErrors that name the field. */
export function validateBuildRequest(request: BuildRequest, gitPolicy: GitPolicy = DEFAULT_GIT_POLICY): BuildRequest {
  const dockerfile = request.dockerfile.trim() || 'Dockerfile';
  if (dockerfile.startsWith('/') || dockerfile.split('/').includes('..')) {
    throw new BuildError('INVALID_ARGUMENT', `invalid dockerfile "${request.dockerfile}": it must be a relative path inside the context`);
  }
  if (request.tags.length > 32) throw new BuildError('INVALID_ARGUMENT', `too many tags (${request.tags.length}); at most 32`);
  for (const tag of request.tags) validateTag(tag);
  for (const name of Object.keys(request.buildArgs)) {
    if (!ARG_NAME.test(name)) throw new BuildError('INVALID_ARGUMENT', `invalid build arg name "${name}": want [A-Za-z_][A-Za-z0-9_]*`);
  }
  if (request.push && request.tags.length === 0) {
    throw new BuildError('INVALID_ARGUMENT', 'push needs at least one tag (registry/repository:tag)');
  }
  if (request.context.kind === 'git') validateGitSource(request.context.url, request.context.ref, gitPolicy);
  return { ...request, dockerfile };
}

export function validateTag(tag: string): void {
  try {
    parseReference(tag);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new BuildError('INVALID_REFERENCE', `invalid tag "${tag}": ${reason}`, { cause: err });
  }
  if (tag.includes('@')) throw new BuildError('INVALID_REFERENCE', `invalid tag "${tag}": a tag cannot carry a digest`);
}

/** Only URLs the farm's [git] policy allows (git-policy.ts), and refs that cannot be read as options or revisions. */
export function validateGitSource(url: string, ref: string, gitPolicy: GitPolicy = DEFAULT_GIT_POLICY): void {
  checkGitUrl(url, gitPolicy);
  if (ref === '' || ref.startsWith('-') || /[\s~^:?*[\\]|\.\.|@\{/.test(ref)) {
    throw new BuildError('INVALID_ARGUMENT', `invalid git ref "${ref}": want a branch, tag or commit sha`);
  }
}

/** True when `ref` names a commit rather than a branch or tag. */
export function isCommitSha(ref: string): boolean {
  return SHA.test(ref);
}

/**
 * Build args as `NAME=VALUE` strings (the CLI's `--build-arg`, the API's `buildarg`). A bare `NAME` takes its value
 * from `env` when given (skipped when unset, as docker does); without `env` it is an error. `flag` names the option.
 * Any non-empty name is taken, as buildx's listToMap does: ARG accepts `a-b` or `my.var`, so the flag must too.
 */
export function parseBuildArgs(args: string[], options: { env?: NodeJS.ProcessEnv; flag?: string } = {}): Record<string, string> {
  const flag = options.flag ?? '--build-arg';
  const out: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (name === '' || name.includes('\0') || (eq < 0 && !options.env)) {
      throw new BuildError('INVALID_ARGUMENT', `invalid ${flag} "${arg}": want NAME=VALUE`);
    }
    if (eq >= 0) out[name] = arg.slice(eq + 1);
    else if (options.env![name] !== undefined) out[name] = options.env![name]!;
  }
  return out;
}
