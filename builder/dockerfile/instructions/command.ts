/** CMD, ENTRYPOINT and SHELL: exec (JSON) or shell form, kept literal for the shell. */
import { BuildError } from '../../errors.js';
import { checkFlags } from '../flags.js';
import type { ParsedInstruction } from '../parse.js';
import type { CmdStep, CommandForm, EntrypointStep, ShellStep } from '../types.js';
import { parseJsonArray } from '../words.js';
import { stepBase } from './context.js';

/**
 * Exec form when the arguments are a JSON string array, else shell form (one string), as BuildKit decides.
 * No arguments at all is the shell form of an empty command (`/bin/sh -c ""`), as BuildKit makes it.
 */
export function commandForm(instruction: ParsedInstruction): { form: CommandForm; args: string[] } {
  const json = parseJsonArray(instruction.rest);
  if (json) return { form: 'exec', args: json };
  return { form: 'shell', args: [instruction.rest] };
}

export function cmd(instruction: ParsedInstruction): CmdStep {
  checkFlags(instruction.flags, {});
  return { op: 'CMD', ...stepBase(instruction), ...commandForm(instruction) };
}

export function entrypoint(instruction: ParsedInstruction): EntrypointStep {
  checkFlags(instruction.flags, {});
  return { op: 'ENTRYPOINT', ...stepBase(instruction), ...commandForm(instruction) };
}

export function shell(instruction: ParsedInstruction): ShellStep {
  checkFlags(instruction.flags, {});
  const json = parseJsonArray(instruction.rest);
  if (!json) throw new BuildError('DOCKERFILE_PARSE', 'SHELL requires the arguments to be in JSON form');
  if (json.length === 0) throw new BuildError('DOCKERFILE_PARSE', 'SHELL requires at least one argument');
  return { op: 'SHELL', ...stepBase(instruction), shell: json };
}
