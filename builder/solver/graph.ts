import { stageDependencies } from '../dockerfile/stage-deps.js';
import type { BuildPlan } from '../dockerfile/types.js';

export { stageDependencies };

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
