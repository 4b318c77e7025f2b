import type { BuildPlan, Stage, StageOrImage, Step } from '../dockerfile/types.js';

/** Stages a stage reads from: its base and every `--from` of COPY/ADD and RUN mounts. */
export function stageDependencies(stage: Stage): number[] {
  const deps = new Set<number>();
  if ('stage' in stage.from) deps.add(stage.from.stage);
  for (const step of stage.steps) {
    for (const from of stepSources(step)) if ('stage' in from) deps.add(from.stage);
  }
  return [...deps];
}

function stepSources(step: Step): StageOrImage[] {
  if (step.op === 'COPY' || step.op === 'ADD') return step.from ? [step.from] : [];
  if (step.op === 'RUN') return step.mounts.flatMap((mount) => ('from' in mount && mount.from ? [mount.from] : []));
  return [];
}

/** The stages the target needs, dependencies first; stages nothing needs are skipped, as BuildKit does. */
export function stagesForTarget(plan: BuildPlan): number[] {
  const order: number[] = [];
  const seen = new Set<number>();
  const visit = (index: number): void => {
    if (seen.has(index)) return;
    seen.add(index);
    for (const dep of stageDependencies(plan.stages[index]!)) visit(dep);
    order.push(index);
  };
  visit(plan.target);
  return order;
}
