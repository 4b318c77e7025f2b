/**
 * docker's `-v` and `--mount` flags → MountRequest, with docker's error texts (moby volume/mounts
 * linux_parser.go for -v, docker/cli opts/mount.go for --mount).
 */
import path from 'node:path';
import { BuildError } from '../errors.js';
import type { MountRequest } from './types.js';

export const VOLUME_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const PROPAGATION = new Set(['shared', 'slave', 'private', 'rshared', 'rslave', 'rprivate']);
const LABEL_MODES = new Set(['z', 'Z']);
const CONSISTENCY = new Set(['consistent', 'cached', 'delegated']);

const invalid = (message: string): BuildError => new BuildError('INVALID_ARGUMENT', message);

/** docker's nameCheck for local volumes. */
export function validateVolumeName(name: string): void {
  if (!VOLUME_NAME_PATTERN.test(name)) {
    throw invalid(`"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
}

function validMode(mode: string): boolean {
  if (mode === '') return true;
  let rwCount = 0;
  let copyCount = 0;
  for (const part of mode.split(',')) {
    if (part === 'rw' || part === 'ro') rwCount++;
    else if (part === 'nocopy') copyCount++;
    else if (!PROPAGATION.has(part) && !LABEL_MODES.has(part) && !CONSISTENCY.has(part)) return false;
  }
  return rwCount <= 1 && copyCount <= 1;
}

function absoluteTarget(target: string, type: string): void {
  if (!path.posix.isAbsolute(target)) {
    throw invalid(`invalid mount config for type "${type}": invalid mount path: '${target}' mount path must be absolute`);
  }
}

/**
 * `-v [SOURCE:]TARGET[:MODE]`: SOURCE absolute (or ./relative, made absolute as the docker CLI does) is a
 * bind mount, a name is a named volume, none is an anonymous volume. MODE: ro|rw, nocopy, propagation.
 */
export function parseVolumeFlag(spec: string, cwd = process.cwd()): MountRequest {
  const parts = spec.split(':');
  if (parts.some((p) => p === '')) throw invalid(`invalid volume specification: '${spec}'`);
  let source: string | undefined;
  let target: string;
  let mode = '';
  if (parts.length === 1) {
    target = parts[0]!;
  } else if (parts.length === 2) {
    // `/data:ro` would be a mode on an anonymous volume: docker refuses it.
    if (validMode(parts[1]!)) throw invalid(`invalid volume specification: '${spec}'`);
    [source, target] = parts as [string, string];
  } else if (parts.length === 3) {
    [source, target, mode] = parts as [string, string, string];
  } else {
    throw invalid(`invalid volume specification: '${spec}'`);
  }
  if (!validMode(mode)) throw invalid(`invalid mode: ${mode}`);
  if (source !== undefined && /^\.\.?(\/|$)/.test(source)) source = path.resolve(cwd, source);
  const modes = mode === '' ? [] : mode.split(',');
  const type = source !== undefined && path.posix.isAbsolute(source) ? 'bind' : 'volume';
  if (type === 'volume' && source !== undefined) validateVolumeName(source);
  absoluteTarget(target, type);
  if (target === '/') throw invalid(`invalid specification: destination can't be '/' in '${spec}'`);
  const request: MountRequest = { type, target: path.posix.normalize(target), readonly: modes.includes('ro') };
  if (source !== undefined) request.source = type === 'bind' ? path.normalize(source) : source;
  if (modes.includes('nocopy')) {
    if (type !== 'volume') throw invalid(`invalid mode: ${mode}`);
    request.nocopy = true;
  }
  const propagation = modes.filter((m) => PROPAGATION.has(m));
  if (propagation.length > 0) {
    if (type !== 'bind') throw invalid(`invalid mode: ${mode}`);
    request.options = propagation;
  }
  // docker's -v (unlike --mount) creates a missing host directory.
  if (type === 'bind') request.createHostDir = true;
  return request;
}

function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const lower = value.toLowerCase();
  if (['1', 't', 'true'].includes(lower)) return true;
  if (['0', 'f', 'false'].includes(lower)) return false;
  throw invalid(`invalid value for ${key}: ${value}`);
}

/** docker's RAMInBytes: 64m, 1g, 512k, plain bytes. */
function parseSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(value);
  if (!match) throw invalid(`invalid value for tmpfs-size: ${value}`);
  const units: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
  return Math.floor(Number(match[1]) * units[match[2]!.toLowerCase()]!);
}

/** `--mount type=volume|bind|tmpfs,src=,dst=,readonly,volume-nocopy,tmpfs-size=,tmpfs-mode=,bind-propagation=`. */
export function parseMountFlag(spec: string): MountRequest {
  let type = 'volume';
  let source: string | undefined;
  let target: string | undefined;
  let readonly = false;
  let nocopy: boolean | undefined;
  const volumeKeys: string[] = [];
  const bindOptions: string[] = [];
  const tmpfsOptions: string[] = [];
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    if (value === undefined && !['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive'].includes(key)) {
      throw invalid(`invalid field '${field}' must be a key=value pair`);
    }
    switch (key) {
      case 'type': type = value!.toLowerCase(); break;
      case 'source': case 'src': source = value; break;
      case 'target': case 'dst': case 'destination': target = value; break;
      case 'readonly': case 'ro': readonly = parseBool(key, value); break;
      case 'volume-nocopy': nocopy = parseBool(key, value); volumeKeys.push(key); break;
      case 'volume-driver':
        if (value !== 'local') throw new BuildError('NOT_SUPPORTED', `volume driver "${value}" is not supported: only local`);
        volumeKeys.push(key);
        break;
      case 'volume-label': case 'volume-opt': volumeKeys.push(key); break;
      case 'bind-propagation':
        if (!PROPAGATION.has(value!)) throw invalid(`invalid value for bind-propagation: ${value}`);
        bindOptions.push(value!);
        break;
      case 'bind-nonrecursive': case 'consistency': break;
      case 'tmpfs-size': tmpfsOptions.push(`size=${parseSize(value!)}`); break;
      case 'tmpfs-mode':
        if (!/^[0-7]{1,4}$/.test(value!)) throw invalid(`invalid value for tmpfs-mode: ${value}`);
        tmpfsOptions.push(`mode=${value!.padStart(4, '0')}`);
        break;
      default: throw invalid(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (type !== 'volume' && type !== 'bind' && type !== 'tmpfs') throw invalid(`invalid mount config for type "${type}": mount type unknown`);
  if (!target) throw invalid('target is required');
  absoluteTarget(target, type);
  if (volumeKeys.length > 0 && type !== 'volume') throw invalid(`cannot mix 'volume-*' options with mount type '${type}'`);
  if (bindOptions.length > 0 && type !== 'bind') throw invalid(`cannot mix 'bind-*' options with mount type '${type}'`);
  if (tmpfsOptions.length > 0 && type !== 'tmpfs') throw invalid(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  const request: MountRequest = { type, target: path.posix.normalize(target), readonly };
  if (type === 'tmpfs') {
    if (source) throw invalid(`invalid mount config for type "tmpfs": source must not be specified`);
    if (tmpfsOptions.length > 0) request.options = tmpfsOptions;
  } else if (type === 'bind') {
    if (!source) throw invalid(`invalid mount config for type "bind": field Source must not be empty`);
    if (!path.isAbsolute(source)) throw invalid(`invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`);
    request.source = path.normalize(source);
    if (bindOptions.length > 0) request.options = bindOptions;
  } else {
    if (source) {
      validateVolumeName(source);
      request.source = source;
    }
    if (nocopy) request.nocopy = true;
  }
  return request;
}
