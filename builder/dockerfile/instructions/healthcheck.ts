/** HEALTHCHECK NONE | HEALTHCHECK [--interval…] CMD …: only the options given are set (no defaults filled in). */
import { BuildError } from '../../errors.js';
import type { Healthcheck } from '../../image/types.js';
import { checkFlags } from '../flags.js';
import type { ParsedInstruction } from '../parse.js';
import type { HealthcheckStep } from '../types.js';
import { parseJsonArray } from '../words.js';
import { stepBase } from './context.js';

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration (`30s`, `1m30s`, `1.5h`, `-1s`, `0`) → nanoseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const parsed = goDuration(text);
  return typeof parsed === 'number' ? parsed : undefined;
}

/** Go's time.ParseDuration: nanoseconds, or its error text (`time: missing unit in duration "1"`). */
export function goDuration(text: string): number | string {
  const quoted = JSON.stringify(text);
  const invalid = `time: invalid duration ${quoted}`;
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return invalid;
  let total = 0;
  while (rest !== '') {
    const number = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    if (number[0] === '' || number[0] === '.' || (number[1] === '' && (number[2] ?? '') === '')) return invalid;
    rest = rest.slice(number[0].length);
    const unit = /^[^\d.]*/.exec(rest)![0];
    rest = rest.slice(unit.length);
    if (unit === '') return `time: missing unit in duration ${quoted}`;
    const scale = UNIT_NS[unit];
    if (scale === undefined) return `time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`;
    total += parseFloat(`${number[1] || '0'}.${number[2] ?? ''}`) * scale;
  }
  return sign * Math.round(total);
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
    // BuildKit's parseOptInterval: Go's own parse error, and its words for a duration under the minimum.
    const ns = goDuration(value);
    if (typeof ns === 'string') throw new BuildError('DOCKERFILE_INVALID', ns);
    if (ns !== 0 && ns < 1e6) throw new BuildError('DOCKERFILE_INVALID', `Interval "${flag}" cannot be less than 1ms`);
    // Go's HealthConfig has omitempty: a zero duration (the default) is not in the config at all.
    if (ns !== 0) result[field] = ns;
  }
  const retries = flags.get('retries')?.[0];
  if (retries !== undefined) {
    if (!/^[-+]?\d+$/.test(retries)) throw new BuildError('DOCKERFILE_INVALID', `strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`);
    const count = parseInt(retries, 10);
    if (count < 0) throw new BuildError('DOCKERFILE_INVALID', `--retries cannot be negative (${count})`);
    if (count !== 0) result.Retries = count;
  }
  return { op: 'HEALTHCHECK', ...stepBase(instruction), healthcheck: result };
}
