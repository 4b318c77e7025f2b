/**
 * Which git URLs a build may fetch: the farm's git contexts (API, webhooks, worker) and `ADD <git url>` in a farm
 * build. A submitter must not make a worker clone a repository from the worker's own disk (`file://`), reach a
 * host the operator did not intend, or smuggle an ssh option in as a host name (`ssh://-oProxyCommand=…`).
 *
 *   [git]
 *   schemes = ["https", "ssh"]     # default; also "http", "git", "file"
 *   hosts = ["github.com", "*.corp.example"]   # default: any host
 *   file_paths = ["/srv/git"]      # file:// only below these directories (and "file" must be in schemes)
 *
 * The local CLI builds the user's own files and uses PERMISSIVE_GIT_POLICY.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { BuildError } from './errors.js';

export type GitScheme = 'https' | 'http' | 'ssh' | 'git' | 'file';
export const GIT_SCHEMES: readonly GitScheme[] = ['https', 'http', 'ssh', 'git', 'file'];

export interface GitPolicy {
  schemes: readonly GitScheme[];
  /** Host names or `*.suffix` patterns; empty means any host. */
  hosts: readonly string[];
  /** Directories whose repositories `file://` may name. */
  filePaths: readonly string[];
}

export const DEFAULT_GIT_POLICY: GitPolicy = { schemes: ['https', 'ssh'], hosts: [], filePaths: [] };
export const PERMISSIVE_GIT_POLICY: GitPolicy = { schemes: GIT_SCHEMES, hosts: [], filePaths: ['/'] };

/** A git URL taken apart: scp-style `user@host:path` counts as ssh. */
export interface GitUrlParts {
  scheme: GitScheme;
  host: string;
  user: string;
  path: string;
}

function refuse(url: string, why: string): BuildError {
  return new BuildError('INVALID_ARGUMENT', `invalid git url "${clip(url)}": ${why}`);
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export function parseGitUrl(url: string): GitUrlParts {
  if (/[\s\0]/.test(url) || url.startsWith('-')) throw refuse(url, 'it starts with "-" or contains whitespace');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    // `transport::address` runs git-remote-<transport> (ext:: runs any command): never ours to allow.
    if (/^[A-Za-z0-9+.-]+::/.test(url)) throw refuse(url, 'remote helper URLs (transport::address) are not allowed');
    const scp = /^(?:([^@/:]+)@)?([^@/:]+):(.*)$/.exec(url);
    if (!scp) throw refuse(url, 'want https://, ssh://, git://, file:// or user@host:path');
    return checkedParts(url, { scheme: 'ssh', user: scp[1] ?? '', host: scp[2]!.toLowerCase(), path: scp[3]! });
  }
  if (!(GIT_SCHEMES as readonly string[]).includes(scheme)) throw refuse(url, `the scheme ${scheme}:// is not a git transport we fetch`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse(url, 'it is not a valid URL');
  }
  return checkedParts(url, {
    scheme: scheme as GitScheme, user: decodeURIComponent(parsed.username), host: parsed.hostname.toLowerCase().replace(/^\[|\]$/g, ''),
    path: decodeURIComponent(parsed.pathname),
  });
}

function checkedParts(url: string, parts: GitUrlParts): GitUrlParts {
  // git refuses these too since 2.14, but an option-looking host must never reach ssh's command line.
  if (parts.host.startsWith('-') || parts.user.startsWith('-')) throw refuse(url, 'a host or user name cannot start with "-"');
  if (parts.scheme !== 'file' && parts.host === '') throw refuse(url, 'it names no host');
  if (parts.scheme === 'file' && parts.host !== '' && parts.host !== 'localhost') throw refuse(url, 'file:// URLs cannot name a host');
  return parts;
}

/** Throws INVALID_ARGUMENT unless `url` is allowed by `policy`. */
export function checkGitUrl(url: string, policy: GitPolicy): GitUrlParts {
  const parts = parseGitUrl(url);
  if (!policy.schemes.includes(parts.scheme)) {
    throw refuse(url, `the ${parts.scheme} scheme is not enabled (allowed: ${policy.schemes.join(', ') || 'none'}; see [git] schemes)`);
  }
  if (parts.scheme === 'file') {
    checkFilePath(url, parts.path, policy.filePaths);
  } else if (policy.hosts.length > 0 && !policy.hosts.some((pattern) => hostMatches(parts.host, pattern))) {
    throw refuse(url, `host ${parts.host} is not in [git] hosts`);
  }
  return parts;
}

function hostMatches(host: string, pattern: string): boolean {
  const wanted = pattern.toLowerCase();
  if (wanted.startsWith('*.')) return host.endsWith(wanted.slice(1)) && host.length > wanted.length - 1;
  return host === wanted;
}

/** file:// is allowed only below a listed directory, after `..` and symlinks are resolved. */
function checkFilePath(url: string, repoPath: string, allowed: readonly string[]): void {
  if (!repoPath.startsWith('/')) throw refuse(url, 'a file:// URL needs an absolute path');
  let real = path.posix.normalize(repoPath);
  try {
    real = realpathSync(real);
  } catch {
    // Missing here (the API may run on another machine): the lexical path decides; the worker checks again.
  }
  const inside = allowed.some((dir) => {
    const root = path.posix.normalize(dir).replace(/\/+$/, '');
    return root === '' || real === root || real.startsWith(`${root}/`);
  });
  if (!inside) throw refuse(url, `file:// repositories must be below a directory listed in [git] file_paths (${allowed.join(', ') || 'none listed'})`);
}

/** The `[git]` section of the config file; unset keys keep DEFAULT_GIT_POLICY. */
export function gitPolicyFromConfig(section: Record<string, unknown> | undefined): GitPolicy {
  if (section === undefined) return DEFAULT_GIT_POLICY;
  const list = (key: string, camel: string): string[] | undefined => {
    const value = section[key] ?? section[camel];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw new BuildError('INVALID_ARGUMENT', `config: [git] ${key} must be a list of strings`);
    }
    return value as string[];
  };
  const schemes = list('schemes', 'schemes')?.map((s) => s.toLowerCase()) ?? [...DEFAULT_GIT_POLICY.schemes];
  for (const scheme of schemes) {
    if (!(GIT_SCHEMES as readonly string[]).includes(scheme)) {
      throw new BuildError('INVALID_ARGUMENT', `config: [git] schemes: unknown scheme "${scheme}" (want ${GIT_SCHEMES.join(', ')})`);
    }
  }
  const filePaths = list('file_paths', 'filePaths') ?? [];
  for (const dir of filePaths) {
    if (!dir.startsWith('/')) throw new BuildError('INVALID_ARGUMENT', `config: [git] file_paths: "${dir}" must be an absolute path`);
  }
  return { schemes: schemes as GitScheme[], hosts: list('hosts', 'hosts') ?? [], filePaths };
}
