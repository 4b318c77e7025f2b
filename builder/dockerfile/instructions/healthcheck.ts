/** HEALTHCHECK NONE | HEALTHCHECK [--interval…] CMD …: only the options given are set (no defaults filled in). */
import { BuildError } from '../../errors.js';
import type { Healthcheck } from '../../image/types.js';
import { checkFlags } from '../flags.js';
import type { ParsedInstruction } from '../parse.js';
import type { HealthcheckStep } from '../types.js';
import { parseJsonArray } from '../words.js';
import { stepBase } from './context.js';

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration (`30s`, `1m30s`, `1.5h`, `0`) → nanoseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (!match) return undefined;
    total += parseFloat(match[1]!) * UNIT_NS[match[2]!]!;
    index = part.lastIndex;
  }
  return text.length === 0 ? undefined : Math.round(total);
}

const DURATION_FLAGS = [
  ['interval', 'Interval'],
  ['timeout', 'Timeout'],
  ['start-period', 'StartPeriod'],
  ['start-interval', 'StartInterval'],
] as const;

export function healthcheck(instruction: ParsedInstruction): HealthcheckStep {
  const flags = checkFlags(instruction.flags, {
    interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string',
  });
  const match = /^(\S+)\s*([\s\S]*)$/.exec(instruction.rest);
  if (!match) throw new BuildError('DOCKERFILE_PARSE', 'HEALTHCHECK requires at least one argument');
  const type = match[1]!.toUpperCase();
  const command = match[2]!.trim();
  if (type === 'NONE') {
    if (command !== '' || flags.size > 0) throw new BuildError('DOCKERFILE_PARSE', 'HEALTHCHECK NONE takes no arguments');
    return { op: 'HEALTHCHECK', ...stepBase(instruction), healthcheck: { Test: ['NONE'] } };
  }
  if (type !== 'CMD') throw new BuildError('DOCKERFILE_PARSE', `Unknown type "${match[1]}" in HEALTHCHECK (try CMD)`);
  if (command === '') throw new BuildError('DOCKERFILE_PARSE', 'Missing command after HEALTHCHECK CMD');
  const json = parseJsonArray(command);
  const result: Healthcheck = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', command] };
  for (const [flag, field] of DURATION_FLAGS) {
    const value = flags.get(flag)?.[0];
    if (value === undefined) continue;
    const ns = parseDuration(value);
    if (ns === undefined) throw new BuildError('DOCKERFILE_INVALID', `invalid duration for --${flag}: "${value}" (use e.g. 30s or 1m30s)`);
    if (ns !== 0 && ns < 1e6) throw new BuildError('DOCKERFILE_INVALID', `--${flag} cannot be less than 1ms`);
    result[field] = ns;
  }
  const retries = flags.get('retries')?.[0];
  if (retries !== undefined) {
    if (!/^-?\d+$/.test(retries)) throw new BuildError('DOCKERFILE_INVALID', `invalid value for --retries: "${retries}"`);
    const count = parseInt(retries, 10);
    if (count < 0) throw new BuildError('DOCKERFILE_INVALID', `--retries cannot be negative (${count})`);
    result.Retries = count;
  }
  return { op: 'HEALTHCHECK', ...stepBase(instruction), healthcheck: result };
}
