/** `RUN --mount=type=…,target=…` options, parsed as BuildKit's runmount does (CSV of key[=value]). */
import { posix } from 'node:path';
import { BuildError } from '../../errors.js';
import { expandWord } from '../expand.js';
import type { RunMount } from '../types.js';
import type { InstructionContext } from './context.js';
import { suggest } from '../suggest.js';

const KEY_ALIASES: Record<string, string> = {
  src: 'source', dst: 'target', destination: 'target', ro: 'readonly', rw: 'readwrite',
};
const KNOWN_KEYS = new Set(['type', 'source', 'target', 'from', 'readonly', 'readwrite', 'id', 'sharing', 'mode', 'uid', 'gid', 'size', 'required', 'env']);

function invalid(message: string): BuildError {
  return new BuildError('DOCKERFILE_INVALID', message);
}

function bool(key: string, value: string | undefined): boolean {
  const lower = (value ?? 'true').toLowerCase();
  if (lower !== 'true' && lower !== 'false') throw invalid(`invalid value for ${key}: ${value}`);
  return lower === 'true';
}

function integer(key: string, value: string, radix: number): number {
  const pattern = radix === 8 ? /^0?[0-7]+$/ : /^\d+$/;
  if (!pattern.test(value)) throw invalid(`invalid value ${value} for ${key}`);
  return parseInt(value, radix);
}

/** `64m`, `1g`, `512` → bytes (binary multiples, like docker's RAMInBytes). */
export function parseSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(value);
  if (!match) throw invalid(`invalid size: ${value}`);
  const power = ' kmgtp'.indexOf(match[2]!.toLowerCase() || ' ');
  return Math.round(parseFloat(match[1]!) * 1024 ** power);
}

/** ` (did you mean X?)` when a close candidate exists, as BuildKit's suggest.WrapError words it. */
function didYouMean(word: string, candidates: readonly string[]): string {
  const close = suggest(word, candidates);
  return close && close.toLowerCase() !== word.toLowerCase() ? ` (did you mean ${close}?)` : '';
}

export function parseMount(raw: string, context: InstructionContext): RunMount {
  // BuildKit resolves `from` before variables are known, and says so (commands_runmount.go).
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim().toLowerCase() === 'from' && /\$./.test(part.slice(eq + 1))) {
      throw invalid("'from' doesn't support variable expansion, define alias stage instead");
    }
  }
  const fields = new Map<string, string | undefined>();
  for (const part of expandWord(raw, context.lookup, context.escapeChar).split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const key = KEY_ALIASES[rawKey] ?? rawKey;
    if (!KNOWN_KEYS.has(key)) throw invalid(`unexpected key '${rawKey}' in '${part}'${didYouMean(rawKey, [...KNOWN_KEYS])}`);
    fields.set(key, eq < 0 ? undefined : part.slice(eq + 1));
  }
  const get = (key: string): string | undefined => fields.get(key);
  const type = (get('type') ?? 'bind').toLowerCase();
  const target = get('target');
  const from = get('from') ? context.resolveFrom(get('from')!) : undefined;
  const requireTarget = (): string => {
    if (!target) throw invalid(`mount type=${type} requires a target`);
    return target;
  };
  const owner = {
    ...(get('mode') !== undefined ? { mode: integer('mode', get('mode')!, 8) } : {}),
    ...(get('uid') !== undefined ? { uid: integer('uid', get('uid')!, 10) } : {}),
    ...(get('gid') !== undefined ? { gid: integer('gid', get('gid')!, 10) } : {}),
  };
  if (fields.has('required') && type !== 'secret' && type !== 'ssh') throw invalid(`unexpected key 'required' for mount type '${type}'`);
  if (fields.has('size') && type !== 'tmpfs') throw invalid(`unexpected key 'size' for mount type '${type}'`);
  if (type === 'bind' || type === 'tmpfs') {
    for (const key of ['mode', 'uid', 'gid']) if (fields.has(key)) throw invalid(`${key} not allowed for "${type}" type mounts`);
  }
  if (type === 'secret' && fields.has('from')) throw invalid('secret mount should not have a from');
  if (type === 'secret' && fields.has('sharing')) throw invalid('secret mount should not define sharing');
  if (fields.has('sharing') && type !== 'cache') throw invalid(`invalid cache sharing set for ${type} mount`);
  const readonly = fields.has('readwrite') ? !bool('readwrite', get('readwrite')) : undefined;
  switch (type) {
    case 'bind':
      return {
        type: 'bind', target: requireTarget(), readonly: fields.has('readonly') ? bool('readonly', get('readonly')) : (readonly ?? true),
        ...(get('source') !== undefined ? { source: get('source') } : {}), ...(from ? { from } : {}),
      };
    case 'cache': {
      const sharing = (get('sharing') ?? 'shared').toLowerCase();
      if (sharing !== 'shared' && sharing !== 'locked' && sharing !== 'private') {
        throw invalid(`unsupported sharing value "${sharing}"`);
      }
      return {
        type: 'cache', target: requireTarget(), sharing,
        readonly: fields.has('readonly') ? bool('readonly', get('readonly')) : (readonly ?? false),
        ...(get('id') !== undefined ? { id: get('id') } : {}), ...(get('source') !== undefined ? { source: get('source') } : {}),
        ...(from ? { from } : {}), ...owner,
      };
    }
    case 'tmpfs':
      return { type: 'tmpfs', target: requireTarget(), ...(get('size') !== undefined ? { size: parseSize(get('size')!) } : {}) };
    case 'secret': {
      const id = get('id') || (target ? posix.basename(target) : '');
      if (!id) throw invalid('secret mount requires an id or a target');
      const env = get('env');
      const secretTarget = target ?? (env ? undefined : `/run/secrets/${id}`);
      return {
        type: 'secret', id, required: fields.has('required') ? bool('required', get('required')) : false,
        ...(secretTarget !== undefined ? { target: secretTarget } : {}), ...(env ? { env } : {}), ...owner,
      };
    }
    case 'ssh':
      // BuildKit's defaults: id "default", optional, a socket of mode 0600 owned by 0:0 (dockerfile2llb, llb.AddSSHSocket).
      return {
        type: 'ssh', id: get('id') || 'default', required: fields.has('required') ? bool('required', get('required')) : false,
        ...(target ? { target } : {}), ...owner,
      };
    default:
      throw invalid(`unsupported mount type "${type}"${didYouMean(type, ['bind', 'cache', 'tmpfs', 'secret', 'ssh'])} (use bind, cache, tmpfs, secret or ssh)`);
  }
}
