/** `--cache-to` and `--cache-from` as buildx takes them (the `registry` and `local` types). */
import { BuildError } from '../errors.js';
import type { CacheExportSpec, CacheImportSpec } from '../../cache/transfer-format.js';
import { parseFlagFields } from './flag-fields.js';

function fieldsOf(value: string, flag: string, allowed: string[]): Map<string, string> {
  // buildx: a bare value is a registry reference.
  const fields = value.includes('=') ? parseFlagFields(value, flag) : new Map([['type', 'registry'], ['ref', value]]);
  const unknown = [...fields.keys()].filter((key) => !allowed.includes(key));
  if (unknown.length > 0) throw new BuildError('INVALID_ARGUMENT', `${flag}: unsupported attribute ${unknown.join(', ')} (want ${allowed.join(', ')})`);
  return fields;
}

function need(fields: Map<string, string>, key: string, flag: string): string {
  const value = fields.get(key);
  if (!value) throw new BuildError('INVALID_ARGUMENT', `${flag} type=${fields.get('type')} needs ${key}=…`);
  return value;
}

export function parseCacheTo(value: string): CacheExportSpec {
  const fields = fieldsOf(value, '--cache-to', ['type', 'ref', 'dest', 'mode']);
  const mode = fields.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new BuildError('INVALID_ARGUMENT', `--cache-to: mode must be min or max, not "${mode}"`);
  const type = fields.get('type');
  if (type === 'registry') return { type, ref: need(fields, 'ref', '--cache-to'), mode };
  if (type === 'local') return { type, dest: need(fields, 'dest', '--cache-to'), mode };
  throw new BuildError('INVALID_ARGUMENT', `--cache-to: unsupported type "${type ?? ''}" (want registry or local)`);
}

export function parseCacheFrom(value: string): CacheImportSpec {
  const fields = fieldsOf(value, '--cache-from', ['type', 'ref', 'src']);
  const type = fields.get('type');
  if (type === 'registry') return { type, ref: need(fields, 'ref', '--cache-from') };
  if (type === 'local') return { type, src: need(fields, 'src', '--cache-from') };
  throw new BuildError('INVALID_ARGUMENT', `--cache-from: unsupported type "${type ?? ''}" (want registry or local)`);
}
