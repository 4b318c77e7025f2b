import type { BuildPlan, Stage, Step } from '../dockerfile/types.js';
import { withLocation } from '../errors.js';
import type { EventSink } from '../events.js';
import { executeStep, stepInputs, writesFilesystem } from '../exec/index.js';
import type { StageOutput, StepContext, StepResult } from '../exec/types.js';
import type { CacheBackend } from '../../cache/backend.js';
import { cacheKey, cacheKeyPreimage } from '../../cache/key.js';
import { stepName } from './progress-names.js';

export interface StageRun {
  plan: BuildPlan;
  stage: Stage;
  base: StageOutput;
  cache: CacheBackend;
  noCache: boolean;
  /** Step context without the per-step fields. */
  context: Omit<StepContext, 'config' | 'layers' | 'log' | 'cmdSetInStage'>;
  onEvent: EventSink;
  nextStepId(): string;
  /** Limits how many filesystem steps run at once across stages. */
  schedule<T>(task: () => Promise<T>): Promise<T>;
}

/** Runs one stage's steps over its base: cache lookups, execution, progress. Errors carry the step's line. */
export async function runStage(run: StageRun): Promise<StageOutput> {
  const { plan, stage } = run;
  let state: StageOutput = run.base;
  let cmdSetInStage = false;
  for (const [index, step] of stage.steps.entries()) {
    const name = stepName(plan, stage, index + 2, step.source);
    try {
      const ctx: StepContext = { ...run.context, config: state.config, layers: state.layers, cmdSetInStage, log: () => {} };
      state = await cachedStep(run, step, name, ctx, state);
    } catch (err) {
      throw withLocation(err, plan.file, step.line);
    }
    if (step.op === 'CMD') cmdSetInStage = true;
  }
  return state;
}

/**
 * Every step goes through the cache, metadata steps too, so a fully cached rebuild reproduces the
 * same config (history timestamps included) and thus the same image digest. Only filesystem steps
 * are shown in progress, as in BuildKit.
 */
async function cachedStep(run: StageRun, step: Step, name: string, ctx: StepContext, state: StageOutput): Promise<StageOutput> {
  const visible = writesFilesystem(step);
  const stepId = visible ? run.nextStepId() : '';
  const started = Date.now();
  const inputsDigest = await stepInputs(step, ctx);
  const keyInput = { parent: state.key, step, inputsDigest };
  const key = cacheKey(keyInput);
  if (!run.noCache) {
    const hit = await run.cache.get(key);
    if (hit) {
      if (visible) run.onEvent({ type: 'step.cached', stepId, name, line: step.line, time: Date.now() });
      return apply(state, hit.layer ? { layer: hit.layer, config: hit.config } : { config: hit.config }, key);
    }
  }
  if (visible) run.onEvent({ type: 'step.start', stepId, name, line: step.line, time: Date.now() });
  const log = (stream: 'stdout' | 'stderr', data: Buffer): void =>
    run.onEvent({ type: 'step.log', stepId, stream, data: data.toString('utf8'), time: Date.now() });
  try {
    const result = visible ? await run.schedule(() => executeStep(step, { ...ctx, log })) : await executeStep(step, ctx);
    await run.cache.put(key, { ...result, createdBy: step.source, preimage: cacheKeyPreimage(keyInput) });
    if (visible) run.onEvent({ type: 'step.done', stepId, name, durationMs: Date.now() - started, time: Date.now() });
    return apply(state, result, key);
  } catch (err) {
    const located = withLocation(err, run.plan.file, step.line);
    if (visible) run.onEvent({ type: 'step.error', stepId, name, code: located.code, message: located.message, line: step.line, time: Date.now() });
    throw located;
  }
}

function apply(state: StageOutput, result: StepResult, key: string): StageOutput {
  return { config: result.config, layers: result.layer ? [...state.layers, result.layer] : state.layers, key };
}
