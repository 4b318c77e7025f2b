/** ENV and LABEL: name=value pairs (or the legacy `NAME value`), expanded with the environment before the instruction. */
import { BuildError } from '../../errors.js';
import { expandWord } from '../expand.js';
import { checkFlags } from '../flags.js';
import type { ParsedInstruction } from '../parse.js';
import type { EnvStep, LabelStep } from '../types.js';
import { parseNameValues } from '../words.js';
import { stepBase, type InstructionContext } from './context.js';

function expandPairs(instruction: ParsedInstruction, context: InstructionContext): [string, string][] {
  checkFlags(instruction.flags, {});
  return parseNameValues(instruction.keyword, instruction.rest, context.escapeChar).map(([rawKey, rawValue]) => {
    const key = expandWord(rawKey, context.lookup, context.escapeChar);
    if (key === '') throw new BuildError('DOCKERFILE_PARSE', `${instruction.keyword} names can not be blank`);
    return [key, expandWord(rawValue, context.lookup, context.escapeChar)];
  });
}

export function env(instruction: ParsedInstruction, context: InstructionContext): EnvStep {
  return { op: 'ENV', ...stepBase(instruction), vars: expandPairs(instruction, context) };
}

export function label(instruction: ParsedInstruction, context: InstructionContext): LabelStep {
  return { op: 'LABEL', ...stepBase(instruction), vars: expandPairs(instruction, context) };
}
