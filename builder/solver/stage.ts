import type { BuildPlan, Stage, Step } from '../dockerfile/types.js';
import { errorMessage, withLocation } from '../errors.js';
import { PendingLayer, settleLayer } from '../layer/pending-layer.js';
import type { EventSink } from '../events.js';
import { executeStep, prefetchHandlers, stepInputs, writesFilesystem } from '../exec/index.js';
import type { StageOutput, StepContext, StepResult } from '../exec/types.js';
import type { CacheBackend, CacheCall, CacheHit, CacheLease } from '../../cache/backend.js';
import { applyDelta, diffConfig } from '../../cache/config-delta.js';
import { cacheKey, cacheKeyPreimage } from '../../cache/key.js';
import { explainMiss, stepIdentity, type StepTrace, type TraceStore } from '../../cache/explain.js';
import { stepName } from './progress-names.js';
import { recordArg } from '../exec/metadata.js';
import type { Span } from '../trace/tracer.js';

export interface StageRun {
  plan: BuildPlan;
  stage: Stage;
  base: StageOutput;
  cache: CacheBackend;
  noCache: boolean;
  /** Where step traces are kept, and the project they belong to (first tag, or the context dir). */
  traces: TraceStore;
  traceScope: string;
  /** Step context without the per-step fields. */
  context: Omit<StepContext, 'config' | 'layers' | 'log' | 'cmdSetInStage'>;
  onEvent: EventSink;
  nextStepId(): string;
  /** Limits how many filesystem steps run at once across stages. */
  schedule<T>(task: () => Promise<T>): Promise<T>;
  /** The stage's span: each step is a child, its phases (key, cache, mount, runtime, layer, commit) below it. */
  span: Span;
}

/** Runs one stage's steps over its base: cache lookups, execution, progress. Errors carry the step's line. */
export async function runStage(run: StageRun): Promise<StageOutput> {
  const { plan, stage } = run;
  let state: StageOutput = run.base;
  let cmdSetInStage = false;
  const misses: StageMisses = { base: { key: run.base.key, ref: stageBaseRef(stage) }, ops: new Set(stage.steps.map((step) => step.op)) };
  let position = 1;
  for (const step of stage.steps) {
    // ARG only adds its history entry: not cached, not numbered, and the cache key passes through unchanged, so
    // a build arg only invalidates the steps that can see it (RUN's buildArgs).
    if (step.op === 'ARG') {
      state = { ...state, config: recordArg(state.config, step, run.context.sourceDateEpoch) };
      continue;
    }
    await run.context.session.checkpoint();
    const index = position++ - 1;
    const name = stepName(plan, stage, index + 2, step.source);
    try {
      const ctx: StepContext = { ...run.context, config: state.config, layers: state.layers, cmdSetInStage, log: () => {} };
      const identity = stepIdentity(run.traceScope, plan.file, stage.name ?? String(stage.index), index);
      const before = state;
      state = await run.span.child(name, (span) => cachedStep(run, step, name, ctx, before, identity, misses, span), { cat: 'step', args: { step: name, line: step.line } });
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
async function cachedStep(
  run: StageRun, step: Step, name: string, ctx: StepContext, state: StageOutput, identity: string, misses: StageMisses, span: Span,
): Promise<StageOutput> {
  const visible = writesFilesystem(step);
  const stepId = visible ? run.nextStepId() : '';
  const started = Date.now();
  // Metadata steps cost microseconds: one span each, no phases (10,000 ENV steps stay a readable trace).
  const phase = <T>(phaseName: string, work: () => Promise<T>): Promise<T> => (visible ? span.child(phaseName, work) : work());
  const { inputs, keyInput, key } = await phase('key', async () => {
    const digested = await stepInputs(step, ctx);
    const input = { parent: state.key, step, inputsDigest: digested?.digest };
    return { inputs: digested, keyInput: input, key: cacheKey(input) };
  });
  span.set({ key, ...(stepId ? { stepId } : {}) });
  const session = run.context.session;
  const call: CacheCall = { warn: (message) => session.warn(message), signal: run.context.signal, published: (bytes) => { session.stats.bytesPublished += bytes; } };
  const hitResult = (hit: CacheHit): StageOutput => {
    session.stats.hit(hit.backend);
    if (visible) run.onEvent({ type: 'step.cached', stepId, name, line: step.line, time: Date.now(), ...(hit.builtBy ? { builtBy: hit.builtBy } : {}) });
    if (hit.layer && hit.blobSource) session.remoteLayer(hit.layer, key, hit.blobSource, hit.check);
    for (const [repository, manifest] of Object.entries(hit.heldIn ?? {})) session.heldManifests.add(`${repository}@${manifest}`);
    session.used(run.stage.index, key, hit);
    const config = applyDelta(state.config, hit.delta);
    return apply(state, hit.layer ? { layer: hit.layer, config } : { config }, key);
  };
  let lease: CacheLease | undefined;
  if (!run.noCache) {
    if (!session.isBroken(key)) {
      const hit = await phase('cache lookup', () => run.cache.get(key, call));
      span.set({ cached: hit !== undefined });
      if (hit) return hitResult(hit);
    }
    session.stats.miss();
    // Single-flight: a filesystem step that another worker is running right now is waited for, not run twice.
    if (visible && run.cache.acquire && !session.isBroken(key)) {
      const acquired = await run.cache.acquire(key, call, () => session.stats.waited());
      if ('release' in acquired) lease = acquired;
      else return hitResult(acquired);
    }
  }
  // Everything after a miss runs under the lease (when one was taken), so no path can leave it held.
  if (visible && misses.ops) {
    prefetchHandlers(misses.ops);
    misses.ops = undefined;
  }
  const runMissed = async (): Promise<StageOutput> => {
    const trace: StepTrace = { key, preimage: cacheKeyPreimage(keyInput), base: misses.base, files: inputs?.files };
    let reason: string | undefined;
    if (visible) {
      // This machine's trace first; else the one any worker of the farm left (shared backends).
      const previous = run.noCache ? undefined : (await run.traces.get(identity)) ?? (await run.cache.getTrace?.(identity, call));
      reason = run.noCache ? 'cache disabled (--no-cache)' : explainMiss(previous, trace, misses.lastMissed);
      misses.lastMissed = name;
    }
    if (visible) run.onEvent({ type: 'step.start', stepId, name, line: step.line, time: Date.now(), reason });
    const log = (stream: 'stdout' | 'stderr', data: Buffer): void =>
      run.onEvent({ type: 'step.log', stepId, stream, data: data.toString('utf8'), time: Date.now() });
    try {
      const executed = visible
        ? await run.schedule(() => span.child('exec', (execSpan) => executeStep(step, { ...ctx, log, span: execSpan }), { args: { op: step.op } }))
        : await executeStep(step, ctx);
      // A blob that fails to compress after the step (a full disk) is reported where it is awaited (the manifest
      // write): it still names this step's Dockerfile line.
      const result = executed.layer instanceof PendingLayer
        ? { ...executed, layer: new PendingLayer(executed.layer.diffId, executed.layer.ready.catch((err: unknown) => { throw withLocation(err, run.plan.file, step.line); })) }
        : executed;
      const record = async (): Promise<void> => {
        const layer = result.layer && (await settleLayer(result.layer));
        if (layer) span.set({ layer: layer.digest, layerBytes: layer.size });
        const entry = { layer, delta: diffConfig(ctx.config, result.config), createdBy: step.source, preimage: trace.preimage };
        await run.cache.put(key, entry, call, layer ? run.context.store.blobPath(layer.digest) : undefined);
        session.used(run.stage.index, key, entry);
      };
      // The record names the layer's blob, so it is written once the blob is complete. With a lease (the farm's
      // single-flight) waiters poll for the record, so it is written before the lease goes; else in the background.
      if (lease || !(result.layer instanceof PendingLayer)) await phase('cache record', record);
      // A blob that failed is reported by whoever needs it (the manifest write); the record is just not written.
      else session.later(result.layer.ready.then(() => span.background('cache record', () => record()).catch((err: unknown) => call.warn(`cache: recording "${step.source}" failed: ${errorMessage(err)}`)), () => undefined));
      if (visible) {
        // Only a later build reads it (to explain its misses): written beside the next step, awaited at the end.
        session.later(span.background('miss trace', async () => {
          await run.traces.put(identity, trace);
          await run.cache.putTrace?.(identity, trace, call);
        }));
      }
      if (visible) run.onEvent({ type: 'step.done', stepId, name, durationMs: Date.now() - started, time: Date.now() });
      return apply(state, result, key);
    } catch (err) {
      const located = withLocation(err, run.plan.file, step.line);
      if (visible) run.onEvent({ type: 'step.error', stepId, name, code: located.code, message: located.message, line: step.line, time: Date.now() });
      throw located;
    }
  };
  try {
    return await runMissed();
  } finally {
    await lease?.release();
  }
}

/** Whether a record's config has exactly the layers before it plus its own (what the image will list). */
function continuesLayers(state: StageOutput, hit: { layer?: { diffId: string }; config: StepResult['config'] }): boolean {
  const expected = [...state.layers.map((layer) => layer.diffId), ...(hit.layer ? [hit.layer.diffId] : [])];
  const recorded = hit.config.rootfs?.diff_ids;
  return recorded === undefined || (recorded.length === expected.length && recorded.every((id, i) => id === expected[i]));
}

function apply(state: StageOutput, result: StepResult, key: string): StageOutput {
  return { config: result.config, layers: result.layer ? [...state.layers, result.layer] : state.layers, key };
}

interface StageMisses {
  base: { key: string; ref: string };
  /** The instructions of the stage: their handlers are loaded at its first miss (then cleared). */
  ops?: Set<Step['op']>;
  /** The most recent step in this stage that missed: later misses are explained by it. */
  lastMissed?: string;
}

function stageBaseRef(stage: Stage): string {
  if ('scratch' in stage.from) return 'scratch';
  if ('image' in stage.from) return `image ${stage.from.image}`;
  return `stage ${stage.from.stage}`;
}
