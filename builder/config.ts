/**
 * The builder config file (`$BUILDER_CONFIG`, TOML or JSON). Registry settings follow buildkitd.toml:
 *
 *   [registry."docker.io"]
 *   mirrors = ["http://127.0.0.1:5000"]
 *   [registry."myreg:5000"]
 *   http = true        # plain http
 *   insecure = true    # plain http allowed too (we have no way to skip TLS verification only)
 *
 * Every other section is kept in `raw` for the parts that read it (`[api]`, `[worker]`, `[webhooks]`).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { BuildError, errorMessage } from './errors.js';

/** Settings of one registry host, as in buildkitd.toml's `[registry."host"]`. */
export interface RegistryHostConfig {
  /** Mirrors tried in order before the registry itself (pulls only): `host[:port]` or a URL. */
  mirrors?: string[];
  /** Allow plain http for this host. */
  insecure?: boolean;
  /** Use plain http for this host. */
  http?: boolean;
}

/** The loaded config file. */
export interface BuilderConfig {
  registries: Record<string, RegistryHostConfig>;
  /** The whole file as parsed, every section included. */
  raw: Record<string, unknown>;
}

export const emptyConfig = (): BuilderConfig => ({ registries: {}, raw: {} });

/** Loads `file`; an unset `file` gives an empty config, a set but missing or invalid one an INVALID_ARGUMENT error. */
export async function loadConfig(file = process.env.BUILDER_CONFIG): Promise<BuilderConfig> {
  if (file === undefined || file === '') return emptyConfig();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new BuildError('INVALID_ARGUMENT', `cannot read the builder config file ${file} (BUILDER_CONFIG): ${errorMessage(err)}`, { cause: err });
  }
  const raw = parseConfigText(file, text);
  return { registries: registriesOf(file, raw), raw };
}

function parseConfigText(file: string, text: string): Record<string, unknown> {
  const ext = path.extname(file).toLowerCase();
  const looksJson = ext === '.json' || (ext !== '.toml' && text.trimStart().startsWith('{'));
  let parsed: unknown;
  try {
    parsed = looksJson ? JSON.parse(text) : plain(parseToml(text));
  } catch (err) {
    const kind = looksJson ? 'JSON' : 'TOML';
    throw new BuildError('INVALID_ARGUMENT', `the builder config file ${file} is not valid ${kind}: ${errorMessage(err).split('\n')[0]}`, { cause: err });
  }
  if (!isObject(parsed)) throw new BuildError('INVALID_ARGUMENT', `the builder config file ${file} must hold a table/object at the top`);
  return parsed;
}

function registriesOf(file: string, raw: Record<string, unknown>): Record<string, RegistryHostConfig> {
  // buildkitd.toml says `registry`; accept `registries` too, which is what the JSON form tends to be written as.
  const section = raw.registry ?? raw.registries;
  if (section === undefined) return {};
  if (!isObject(section)) throw new BuildError('INVALID_ARGUMENT', `${file}: [registry] must be a table of hosts`);
  const registries: Record<string, RegistryHostConfig> = {};
  for (const [host, value] of Object.entries(section)) {
    if (!isObject(value)) throw new BuildError('INVALID_ARGUMENT', `${file}: [registry."${host}"] must be a table`);
    const entry: RegistryHostConfig = {};
    if (value.mirrors !== undefined) {
      if (!Array.isArray(value.mirrors) || !value.mirrors.every((m): m is string => typeof m === 'string')) {
        throw new BuildError('INVALID_ARGUMENT', `${file}: registry."${host}".mirrors must be a list of strings`);
      }
      entry.mirrors = value.mirrors;
    }
    for (const flag of ['insecure', 'http'] as const) {
      if (value[flag] === undefined) continue;
      if (typeof value[flag] !== 'boolean') throw new BuildError('INVALID_ARGUMENT', `${file}: registry."${host}".${flag} must be true or false`);
      entry[flag] = value[flag];
    }
    registries[host] = entry;
  }
  return registries;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** smol-toml makes null-prototype tables; readers of `raw` expect ordinary objects. */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
}
