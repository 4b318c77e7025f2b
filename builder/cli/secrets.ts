/** `builder build --secret id=ID,src=FILE | id=ID,env=VAR`, read as docker buildx reads it. */
import { readFile } from 'node:fs/promises';
import { BuildError, errorMessage } from '../errors.js';

/** One parsed `--secret` flag: where its value comes from. */
export interface SecretSpec {
  id: string;
  /** A file to read, or an environment variable. */
  source: { file: string } | { env: string };
}

const invalid = (flag: string, why: string): BuildError =>
  new BuildError('INVALID_ARGUMENT', `invalid --secret "${flag}": ${why} (use id=ID,src=FILE or id=ID,env=VAR)`);

/**
 * Parses one flag: `id=` is required; `src=`/`source=` names a file, `env=` a variable, `type=file|env`
 * says which `src` is. With neither, the variable named like the id is used when set, else a file of
 * that name (buildx's default).
 */
export function parseSecretFlag(flag: string, env: NodeJS.ProcessEnv = process.env): SecretSpec {
  let id = '';
  let type: string | undefined;
  let src: string | undefined;
  let envName: string | undefined;
  for (const field of flag.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    if (eq < 0) throw invalid(flag, `"${field}" is not key=value`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1);
    if (key === 'id') id = value;
    else if (key === 'type') type = value.toLowerCase();
    else if (key === 'src' || key === 'source') src = value;
    else if (key === 'env') envName = value;
    else throw invalid(flag, `unexpected key "${key}"`);
  }
  if (type !== undefined && type !== 'file' && type !== 'env') throw invalid(flag, `unsupported type "${type}"`);
  if (type === 'env' && envName === undefined) [envName, src] = [src ?? id, undefined];
  if (!id) id = envName ?? '';
  if (!id) throw invalid(flag, 'an id is required');
  if (src !== undefined && envName !== undefined) throw invalid(flag, 'give either src= or env=, not both');
  if (envName !== undefined) return { id, source: { env: envName } };
  if (src !== undefined) return { id, source: { file: src } };
  return { id, source: type !== 'file' && env[id] !== undefined ? { env: id } : { file: id } };
}

/**
 * Reads every `--secret` into memory. A file that cannot be read is an error now (before the build);
 * an unset variable just leaves the secret out, so only a `required=true` mount fails on it, as in BuildKit.
 */
export async function loadSecrets(flags: string[], env: NodeJS.ProcessEnv = process.env): Promise<Map<string, Buffer>> {
  const secrets = new Map<string, Buffer>();
  for (const flag of flags) {
    const spec = parseSecretFlag(flag, env);
    if ('env' in spec.source) {
      const value = env[spec.source.env];
      if (value !== undefined) secrets.set(spec.id, Buffer.from(value));
      continue;
    }
    try {
      secrets.set(spec.id, await readFile(spec.source.file));
    } catch (err) {
      throw new BuildError('INVALID_ARGUMENT', `--secret id=${spec.id}: cannot read ${spec.source.file}: ${errorMessage(err)}`, { cause: err });
    }
  }
  return secrets;
}
