import type { Stage, StageOrImage, Step } from './types.js';

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
