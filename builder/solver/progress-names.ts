import type { BuildPlan, Stage } from '../dockerfile/types.js';

/** BuildKit's vertex names: `[2/5] RUN make`, or `[build 2/5] RUN make` when there are several stages. */
export function stepName(plan: BuildPlan, stage: Stage, position: number, source: string): string {
  const total = stage.steps.filter((step) => step.op !== 'ARG').length + 1;
  const prefix = plan.stages.length > 1 ? `${stage.name ?? `stage-${stage.index}`} ` : '';
  return `[${prefix}${position}/${total}] ${oneLine(source)}`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' ');
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}
