/**
 * Bounds on what one build may ask of the engine: a Dockerfile of 200,000 lines used to write 37 GB of cache
 * records (issue 14). The cost is linear now, but a farm still needs a ceiling that says so in plain words.
 * Overridable with BUILDER_MAX_STEPS; the Dockerfile's byte size is capped where it is read (read-dockerfile.ts).
 */
import { BuildError } from '../errors.js';
import type { BuildPlan } from './types.js';

export const DEFAULT_MAX_STEPS = 50_000;

function limit(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

/** Throws when the plan has more instructions than the limit. */
export function checkStepCount(plan: BuildPlan): void {
  const max = limit('BUILDER_MAX_STEPS', DEFAULT_MAX_STEPS);
  const steps = plan.stages.reduce((sum, stage) => sum + stage.steps.length + 1, 0);
  if (steps > max) {
    throw new BuildError('DOCKERFILE_INVALID', `${plan.file} has ${steps} instructions, more than the ${max} a build accepts (BUILDER_MAX_STEPS)`);
  }
}
