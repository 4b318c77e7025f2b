import { BuildError } from '../errors.js';

/** Options every command accepts (set on the program). */
export interface GlobalOptions {
  root?: string;
  debug?: boolean;
}

/** `512m`, `2g`, `1048576` → bytes. */
export function parseSize(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!match) throw new BuildError('INVALID_ARGUMENT', `invalid size: "${text}" (use e.g. 512m or 2g)`);
  const power = ' kmgt'.indexOf(match[2]!.toLowerCase() || ' ');
  return Math.round(Number(match[1]) * 1024 ** power);
}

export function parsePositiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) <= 0) throw new BuildError('INVALID_ARGUMENT', `invalid ${flag}: "${text}" (want a positive integer)`);
  return Number(text);
}

/** `--build-arg K=V`, or `--build-arg K` taking the value from the environment (skipped when unset, as docker does). */
export function parseBuildArgs(args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new BuildError('INVALID_ARGUMENT', `invalid --build-arg "${arg}": want NAME=VALUE`);
    if (eq >= 0) out[name] = arg.slice(eq + 1);
    else if (env[name] !== undefined) out[name] = env[name]!;
  }
  return out;
}

/** `--cpus 1.5`: a positive number of CPUs. */
export function parseCpus(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const cpus = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || !(cpus > 0)) throw new BuildError('INVALID_ARGUMENT', `invalid argument "${value}" for "--cpus" flag: expected a positive number`);
  return cpus;
}
