import { BuildError } from '../errors.js';

/**
 * `key=value,key=value` as docker's csv-style flags (`--output`, `--secret`, `--cache-to`, `--cache-from`) take
 * them: keys lower-cased and trimmed, empty parts skipped. `flag` names the option in errors.
 */
export function parseFlagFields(value: string, flag: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new BuildError('INVALID_ARGUMENT', `invalid ${flag} "${value}": "${part}" is not key=value`);
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return fields;
}
