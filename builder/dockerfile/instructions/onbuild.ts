/** ONBUILD: the trigger text is kept as written; it runs (and is expanded) in the child stage. */
import { BuildError } from '../../errors.js';
import { checkFlags } from '../flags.js';
import type { ParsedInstruction } from '../parse.js';
import type { OnbuildStep } from '../types.js';
import { stepBase } from './context.js';
import { checkKeyword } from './keywords.js';

/** Rejects triggers BuildKit rejects; returns the trigger's keyword. */
export function checkTrigger(trigger: string): string {
  const keyword = (/^\S+/.exec(trigger)?.[0] ?? '').toUpperCase();
  if (keyword === 'ONBUILD') throw new BuildError('DOCKERFILE_INVALID', "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (keyword === 'FROM' || keyword === 'MAINTAINER') {
    throw new BuildError('DOCKERFILE_INVALID', `${keyword} isn't allowed as an ONBUILD trigger`);
  }
  checkKeyword(keyword);
  return keyword;
}

export function onbuild(instruction: ParsedInstruction): OnbuildStep {
  checkFlags(instruction.flags, {});
  if (instruction.rest === '') throw new BuildError('DOCKERFILE_PARSE', 'ONBUILD requires at least one argument');
  checkTrigger(instruction.rest);
  // As BuildKit's parseOnBuild: heredoc bodies follow the trigger line, each closed by its name.
  const trigger = instruction.heredocs.reduce((text, heredoc) => `${text}\n${heredoc.content}${heredoc.name}`, instruction.rest);
  return { op: 'ONBUILD', ...stepBase(instruction), trigger };
}
