/** Where to send a registry's requests: its mirrors (pulls only) then itself, over https or plain http. */
import type { BuilderConfig } from '../config.js';
import { DEFAULT_REGISTRY } from '../image/reference.js';
import { BuildError } from '../errors.js';

/** One base URL that serves the distribution API for a registry. */
export interface Endpoint {
  /** The registry the reference names (`docker.io`), which may differ from the host we talk to. */
  registry: string;
  /** `http://127.0.0.1:5000` or `https://registry-1.docker.io`, without a trailing slash. */
  baseUrl: string;
  /** `host[:port]` of baseUrl: the key for credentials, tokens and the per-host request limit. */
  authority: string;
  mirror: boolean;
}

const DOCKER_HUB_API = 'registry-1.docker.io';

/** True for localhost and 127.0.0.0/8 and ::1, which docker treats as insecure-allowed. */
export function isLoopbackHost(authority: string): boolean {
  const host = authority.startsWith('[') ? authority.slice(1, authority.indexOf(']')) : authority.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * With BUILDER_LOOPBACK_ONLY=1 (the test suite sets it) only loopback registries may be contacted: a
 * missing image then fails fast and nothing leaves the machine, not even a DNS lookup.
 */
export function assertHostAllowed(url: string | URL): void {
  if (process.env.BUILDER_LOOPBACK_ONLY !== '1') return;
  const { host } = typeof url === 'string' ? new URL(url) : url;
  if (!isLoopbackHost(host)) {
    throw new BuildError('REGISTRY_UNAVAILABLE', `not contacting ${host}: BUILDER_LOOPBACK_ONLY=1 allows loopback registries only`);
  }
}

/** The scheme for a host with no scheme given: http when configured, insecure, or loopback. */
export function schemeFor(authority: string, config: BuilderConfig): 'http' | 'https' {
  const hostConfig = config.registries[authority];
  if (hostConfig?.http === true || hostConfig?.insecure === true) return 'http';
  if (hostConfig?.http === false) return 'https';
  return isLoopbackHost(authority) ? 'http' : 'https';
}

function endpointFor(registry: string, location: string, config: BuilderConfig, mirror: boolean): Endpoint {
  if (/^https?:\/\//.test(location)) {
    const url = new URL(location);
    return { registry, baseUrl: `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`, authority: url.host, mirror };
  }
  const authority = location.replace(/\/+$/, '');
  return { registry, baseUrl: `${schemeFor(authority, config)}://${authority}`, authority, mirror };
}

/** The registry's own endpoint (pushes go only here). */
export function registryEndpoint(registry: string, config: BuilderConfig): Endpoint {
  const apiHost = registry === DEFAULT_REGISTRY ? DOCKER_HUB_API : registry;
  const endpoint = endpointFor(registry, apiHost, config, false);
  // Credentials and config for Docker Hub are keyed by docker.io, not its API host.
  return registry === DEFAULT_REGISTRY ? { ...endpoint, authority: DOCKER_HUB_API } : endpoint;
}

/** Endpoints to try for a pull, in order: configured mirrors, then the registry. */
export function pullEndpoints(registry: string, config: BuilderConfig): Endpoint[] {
  const mirrors = config.registries[registry]?.mirrors ?? [];
  return [...mirrors.map((m) => endpointFor(registry, m, config, true)), registryEndpoint(registry, config)];
}
