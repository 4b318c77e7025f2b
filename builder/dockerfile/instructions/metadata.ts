/** EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL: config-only instructions with expanded arguments. */
import { BuildError } from '../../errors.js';
import { expandHeredoc, expandWord, expandWords } from '../expand.js';
import { checkFlags } from '../flags.js';
import type { ParsedInstruction } from '../parse.js';
import type { ExposeStep, StopsignalStep, UserStep, VolumeStep, WorkdirStep } from '../types.js';
import { parseJsonArray } from '../words.js';
import { stepBase, type InstructionContext } from './context.js';

const PORT = /^(\d+)(-\d+)?(\/[a-zA-Z]+)?$/;

export function expose(instruction: ParsedInstruction, context: InstructionContext): ExposeStep {
  checkFlags(instruction.flags, {});
  // BuildKit's parseExpose sorts the words as written, then expands each: the order history shows.
  const raw = whitespaceWords(instruction.rest).sort();
  // The count is checked before expansion: a word that expands to nothing adds no port and is no error.
  if (raw.length === 0) throw new BuildError('DOCKERFILE_PARSE', 'EXPOSE requires at least one argument');
  const words = raw.flatMap((word) => expandWords(word, context.lookup, context.escapeChar));
  const ports = words.flatMap((word) => {
    const match = PORT.exec(word);
    const proto = (match?.[3] ?? '/tcp').toLowerCase();
    if (!match || !['/tcp', '/udp', '/sctp'].includes(proto)) {
      throw new BuildError('DOCKERFILE_INVALID', `invalid containerPort: ${word}`);
    }
    // A range is stored one port at a time, as BuildKit's nat.ParsePortSpecs does.
    const first = Number(match[1]);
    const last = match[2] ? Number(match[2].slice(1)) : first;
    if (last < first || last > 65535) throw new BuildError('DOCKERFILE_INVALID', `invalid range specified for containerPort: ${word}`);
    return Array.from({ length: last - first + 1 }, (_, offset) => `${first + offset}${proto}`);
  });
  return { op: 'EXPOSE', ...stepBase(instruction), ports };
}

/** BuildKit's parseStringsWhitespaceDelimited (EXPOSE, VOLUME): split at whitespace, quotes are not special. */
function whitespaceWords(rest: string): string[] {
  const trimmed = rest.trim();
  return trimmed === '' ? [] : trimmed.split(/[ \t\r\n\v\f]+/);
}

export function volume(instruction: ParsedInstruction, context: InstructionContext): VolumeStep {
  checkFlags(instruction.flags, {});
  const json = parseJsonArray(instruction.rest);
  // BuildKit's parseStringsWhitespaceDelimited: words split at whitespace, quotes or not, counted as written, then
  // each expanded alone (a value with spaces stays one path, an empty one is an error below).
  const paths = json
    ? json.map((word) => expandHeredoc(word, context.lookup, context.escapeChar))
    : whitespaceWords(instruction.rest).map((word) => expandWord(word, context.lookup, context.escapeChar));
  if (paths.length === 0) throw new BuildError('DOCKERFILE_PARSE', 'VOLUME requires at least one argument');
  if (paths.some((path) => path.trim() === '')) {
    throw new BuildError('DOCKERFILE_INVALID', 'VOLUME specified can not be an empty string');
  }
  return { op: 'VOLUME', ...stepBase(instruction), paths };
}

/** The whole argument text as one expanded word (BuildKit's parseString). */
function single(instruction: ParsedInstruction, context: InstructionContext): string {
  checkFlags(instruction.flags, {});
  if (instruction.rest === '') {
    throw new BuildError('DOCKERFILE_PARSE', `${instruction.keyword} requires exactly one argument`);
  }
  return expandWord(instruction.rest, context.lookup, context.escapeChar);
}

export function user(instruction: ParsedInstruction, context: InstructionContext): UserStep {
  return { op: 'USER', ...stepBase(instruction), user: single(instruction, context) };
}

export function workdir(instruction: ParsedInstruction, context: InstructionContext): WorkdirStep {
  return { op: 'WORKDIR', ...stepBase(instruction), path: single(instruction, context) };
}

/** moby/sys/signal's SignalMap on Linux (names without SIG), the real-time ones included. */
const SIGNAL_NAMES = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF',
  'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2',
  'VTALRM', 'WINCH', 'XCPU', 'XFSZ', 'RTMIN', 'RTMAX',
  ...Array.from({ length: 15 }, (_, i) => `RTMIN+${i + 1}`),
  ...Array.from({ length: 14 }, (_, i) => `RTMAX-${i + 1}`),
]);

/**
 * BuildKit's dispatchStopSignal runs moby/sys/signal ParseSignal: a number other than 0 (kept as written), or a
 * known name with or without SIG, any case; anything else is `Invalid signal: X`.
 */
export function stopsignal(instruction: ParsedInstruction, context: InstructionContext): StopsignalStep {
  const signal = single(instruction, context);
  const valid = /^[+-]?\d+$/.test(signal) ? Number(signal) !== 0 : SIGNAL_NAMES.has(signal.toUpperCase().replace(/^SIG/, ''));
  if (!valid) throw new BuildError('DOCKERFILE_INVALID', `Invalid signal: ${signal}`);
  return { op: 'STOPSIGNAL', ...stepBase(instruction), signal };
}
