/** What an instruction handler gets: the raw instruction and the stage's variables at that point. */
import type { ParsedInstruction } from '../parse.js';
import type { StageOrImage, Step } from '../types.js';

/** The stage's state an instruction is expanded against. */
export interface InstructionContext {
  escapeChar: string;
  /** ENV first, then ARGs in scope; undefined = unset. */
  lookup: (name: string) => string | undefined;
  /** Resolves a `--from` value (already expanded) to a stage or an image. */
  resolveFrom: (value: string) => StageOrImage;
  /** ARGs in scope with values, sorted by name (for RUN). */
  buildArgs: () => [string, string][];
  /** The stage's ARGs in declaration order, valued as the step sees them ('' when unset), for RUN's history text. */
  historyArgs?: () => [string, string][];
  /** BUILDKIT_SANDBOX_HOSTNAME when given as a build arg. */
  sandboxHostname?: string;
}

/** Turns one instruction into its Step (or nothing, for MAINTAINER); throws BuildError on invalid input. */
export type InstructionHandler = (instruction: ParsedInstruction, context: InstructionContext) => Step | undefined;

export function stepBase(instruction: ParsedInstruction): { line: number; endLine: number; source: string } {
  return { line: instruction.line, endLine: instruction.endLine, source: instruction.source };
}
