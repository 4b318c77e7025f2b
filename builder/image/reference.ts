import { BuildError } from '../errors.js';

/** A fully qualified image reference, e.g. docker.io/library/busybox:latest. */
export interface Reference {
  /** Registry host (with port), `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path within the registry; Docker Hub official images get `library/`. */
  repository: string;
  /** Tag; `latest` when neither tag nor digest was given. */
  tag?: string;
  /** `algorithm:hex` content digest. */
  digest?: string;
}

export const DEFAULT_REGISTRY = 'docker.io';
const LEGACY_REGISTRY = 'index.docker.io';

// The grammar of github.com/distribution/reference (reference.go), without IPv6 hosts.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
const NAME_MAX = 255;

function invalid(ref: string, why?: string): BuildError {
  return new BuildError('INVALID_REFERENCE', `invalid reference format: "${ref}"${why ? ` (${why})` : ''}`);
}

/** Parses an image reference by docker's rules: `busybox` → docker.io/library/busybox:latest. */
export function parseReference(ref: string): Reference {
  if (ref.length === 0) throw invalid(ref, 'empty');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(ref, 'bad digest');
    if (digest.startsWith('sha256:') && !SHA256_DIGEST.test(digest)) throw invalid(ref, 'bad sha256 digest');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(ref, 'bad tag');
  }
  if (rest.length === 0) throw invalid(ref);
  if (rest.length > NAME_MAX) throw invalid(ref, `repository name longer than ${NAME_MAX} characters`);

  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    // Docker treats the first component as a host only when it looks like one.
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      if (!DOMAIN.test(first)) throw invalid(ref, 'bad registry host');
      registry = first === LEGACY_REGISTRY ? DEFAULT_REGISTRY : first;
      path = rest.slice(firstSlash + 1);
    }
  }
  const components = path.split('/');
  for (const component of components) {
    if (!COMPONENT.test(component)) {
      const why = component !== component.toLowerCase() ? 'repository name must be lowercase' : undefined;
      throw invalid(ref, why);
    }
  }
  if (registry === DEFAULT_REGISTRY && components.length === 1) path = `library/${path}`;
  if (tag === undefined && digest === undefined) tag = 'latest';
  const parsed: Reference = { registry, repository: path };
  if (tag !== undefined) parsed.tag = tag;
  if (digest !== undefined) parsed.digest = digest;
  return parsed;
}

/** Repository name as docker shows it: `busybox`, `user/app`, `myreg:5000/app`. */
export function familiarRepository(ref: Reference): string {
  if (ref.registry !== DEFAULT_REGISTRY) return `${ref.registry}/${ref.repository}`;
  const short = ref.repository.startsWith('library/') ? ref.repository.slice('library/'.length) : ref.repository;
  return short.includes('/') ? ref.repository : short;
}

/** Docker's familiar string: 'busybox:latest', 'myreg:5000/app:v1', 'app@sha256:...'. */
export function familiarName(ref: Reference): string {
  let name = familiarRepository(ref);
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** The full string: 'docker.io/library/busybox:latest'. */
export function fullName(ref: Reference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** The store's tag form of a user-typed name: `app` → `app:latest`. */
export function normalizeTag(ref: string): string {
  return familiarName(parseReference(ref));
}
