/**
 * The BullMQ processor: one BuildRequest → context fetched → engine → pushes → record + events.
 * User errors end the job for good (UnrecoverableError); infrastructure errors retry; a cancel ends it
 * `cancelled`; a shutdown past the grace period puts it back in the queue.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { BuilderConfig } from '../builder/config.js';
import { BuildError, errorCodes, errorMessage } from '../builder/errors.js';
import type { BuildRequest } from '../builder/request.js';
import type { Engine } from '../builder/engine.js';
import { isTerminal, type BuildRecords, type BuildRecord, type BuildState } from './build-records.js';
import { fetchContext } from './fetch-context.js';
import { locateContextFile } from '../builder/context/context-file.js';
import { checkGitUrl, type GitPolicy } from '../builder/git-policy.js';
import { EventPublisher } from './publish.js';
import { Tracer } from '../builder/trace/tracer.js';
import { toChromeTrace } from '../builder/trace/chrome.js';
import { finishTrace } from '../builder/trace/finish.js';
import { configuredRuntime } from '../builder/sandbox/runtime.js';

/** How long a build's trace stays readable at GET /v1/builds/:id/trace. */
const TRACE_TTL_SECONDS = 7 * 24 * 3600;

/** Why a running build's AbortController fired. */
export type AbortReason = { kind: 'cancel'; message: string } | { kind: 'shutdown' };

/** What a processor needs; `active` lets the worker abort running builds (cancel, shutdown). */
export interface ProcessorDeps {
  records: BuildRecords;
  engine: Engine;
  builderConfig: BuilderConfig;
  /** The farm's cache repository: each tagged build also exports its records there, for `--cache-from` outside the farm. */
  cacheRepo?: string;
  hostname: string;
  attempts: number;
  network: 'host' | 'none' | 'isolated';
  allowHostNetwork?: boolean;
  networkPolicy?: { allowCidrs: string[]; denyCidrs: string[] };
  /** The farm's [git] policy: checked again here (the API may run with another config) and applied to ADD. */
  gitPolicy: GitPolicy;
  active: Map<string, { controller: AbortController; reason?: AbortReason }>;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

export interface BuildOutcome {
  state: BuildState;
  imageDigest?: string;
}

export function createProcessor(deps: ProcessorDeps): (job: Job<BuildRequest, BuildOutcome>, token?: string) => Promise<BuildOutcome> {
  return async (job, token) => {
    const id = job.id!;
    const { records } = deps;
    const existing = await records.get(id);
    if (!existing) throw new UnrecoverableError(`build ${id} has no record (was the farm state cleared?)`);
    if (existing.state === 'succeeded' || existing.state === 'cancelled') return { state: existing.state };
    const entry: { controller: AbortController; reason?: AbortReason } = { controller: new AbortController() };
    deps.active.set(id, entry);
    const started = Date.now();
    const publisher = new EventPublisher(records, id);
    // One trace per attempt: the last attempt's is what GET /v1/builds/:id/trace shows.
    const tracer = new Tracer(`build ${id}`);
    // Under the store, not /tmp: a worker killed mid-build leaves nothing behind outside its BUILDER_ROOT.
    const workDir = await mkdtemp(path.join(deps.engine.store.tmpDir, 'context-'));
    // A pushed build's local save, finished after the record says succeeded (solver/export-image.ts): awaited before
    // the job ends, so the worker's next job on this slot and its shutdown drain both come after it.
    let saved: Promise<string | undefined> | undefined;
    try {
      const running = await records.update(id, (r) => (r.state === 'cancelled' ? undefined
        : { ...r, state: 'running', startedAt: started, steps: [], error: undefined, workers: [...r.workers, deps.hostname] }));
      if (!running || running.state === 'cancelled') return { state: 'cancelled' };
      if (running.cancelReason) entry.controller.abort();
      const request = running.request;
      if (request.context.kind === 'git') checkGitUrl(request.context.url, deps.gitPolicy);
      await fetchContext(request.context, workDir, records, entry.controller.signal, deps.gitPolicy.schemes.includes('file'));
      checkCancelled(entry.controller.signal);
      const dockerfilePath = path.join(workDir, request.dockerfile);
      // Resolved inside the context: a link out of it must not tell the submitter what exists on the worker.
      if (!(await stat(await locateContextFile(workDir, dockerfilePath)).then((s) => s.isFile(), () => false))) {
        throw new BuildError('INVALID_ARGUMENT', `Dockerfile "${request.dockerfile}" not found in the build context`);
      }
      const result = await deps.engine.build({
        contextDir: workDir, dockerfilePath, dockerfileName: request.dockerfile, tags: request.tags, buildArgs: request.buildArgs,
        target: request.target, noCache: request.noCache, network: deps.network, runtime: configuredRuntime(deps.builderConfig.raw), gitPolicy: deps.gitPolicy, allowHostNetwork: deps.allowHostNetwork ?? false, networkPolicy: deps.networkPolicy,
        // The artifact of this image's tag in the cache repository: what a laptop pushed with --cache-to is read here,
        // and what this build used is exported there for the laptops.
        cacheFrom: deps.cacheRepo && request.tags[0] ? [{ type: 'registry', ref: `${deps.cacheRepo}:${cacheTagFor(request.tags[0])}`, optional: true }] : [],
        cacheTo: deps.cacheRepo && request.tags[0] ? [{ type: 'registry', ref: `${deps.cacheRepo}:${cacheTagFor(request.tags[0])}`, mode: 'max' }] : [],
        // The engine pushes every tag beside writing the image (builder/solver/export-image.ts), not after it.
        ...(request.push ? { push: { config: deps.builderConfig } } : {}),
        ephemeralContext: true,
      }, { onEvent: publisher.onEvent, signal: entry.controller.signal, tracer });
      saved = result.saved;
      publisher.cacheStats = result.cache;
      const pushed: BuildRecord['pushed'] = result.pushed ?? [];
      await publisher.flush();
      await finish(deps, id, publisher, started, { state: 'succeeded', imageDigest: result.manifest.digest, pushed });
      return { state: 'succeeded', imageDigest: result.manifest.digest };
    } catch (err) {
      return await handleFailure(deps, job, token, entry.reason, publisher, started, err);
    } finally {
      const failedSave = await saved;
      // Its warning event went to the stream after build.done, where a follower may have stopped reading: logged too.
      if (failedSave) deps.log(`build ${id}: ${failedSave}`);
      await publisher.flush().catch(() => undefined);
      deps.active.delete(id);
      await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
      await keepTrace(deps, id, tracer);
    }
  };
}

/** Stores the attempt's trace beside the build record and sends it over OTLP when configured; never fails the job. */
async function keepTrace(deps: ProcessorDeps, id: string, tracer: Tracer): Promise<void> {
  const warn = (message: string): void => deps.log(`build ${id}: ${message}`);
  await deps.records.putTrace(id, JSON.stringify(toChromeTrace(tracer)), TRACE_TTL_SECONDS).catch((err: unknown) => warn(`cannot store the trace: ${errorMessage(err)}`));
  await finishTrace(tracer, { warn, attributes: { 'builder.build_id': id, 'host.name': deps.hostname } });
}

/**
 * The artifact tag a build's records are exported under in the cache repository: the image reference without its
 * registry, as a tag (`registry:5000/org/app:main` → `org-app-main`). A laptop then builds with
 * `--cache-from type=registry,ref=<cache repo>:org-app-main` and hits what the farm built (its layers are already there).
 */
export function cacheTagFor(imageTag: string): string {
  const withoutRegistry = /^[^/]*[.:][^/]*\//.test(imageTag) || imageTag.startsWith('localhost/') ? imageTag.slice(imageTag.indexOf('/') + 1) : imageTag;
  const tag = withoutRegistry.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 128);
  return tag === '' ? 'latest' : tag;
}

function checkCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new BuildError('CANCELLED', 'build cancelled');
}

async function handleFailure(
  deps: ProcessorDeps, job: Job<BuildRequest, BuildOutcome>, token: string | undefined, reason: AbortReason | undefined,
  publisher: EventPublisher, started: number, err: unknown,
): Promise<BuildOutcome> {
  const id = job.id!;
  await publisher.flush().catch(() => undefined);
  if (reason?.kind === 'shutdown') {
    // Draining: this worker stops, the build goes back to the queue for another one (attempts untouched).
    await deps.records.update(id, (r) => ({ ...r, state: 'queued', steps: [] }));
    await job.moveToDelayed(Date.now(), token);
    throw new DelayedError();
  }
  const record = await deps.records.get(id);
  if (reason?.kind === 'cancel' || record?.cancelReason) {
    await finish(deps, id, publisher, started, { state: 'cancelled', error: { code: 'CANCELLED', message: record?.cancelReason ?? 'build cancelled' } });
    return { state: 'cancelled' };
  }
  const error = err instanceof BuildError ? err : new BuildError('INTERNAL', errorMessage(err), { cause: err });
  const lastAttempt = job.attemptsMade + 1 >= deps.attempts;
  const retryable = errorCodes[error.code].retryable && !lastAttempt;
  deps.log(`build ${id} ${retryable ? 'will retry' : 'failed'}: ${error.toString()}`, { code: error.code });
  if (retryable) {
    await deps.records.update(id, (r) => ({ ...r, state: 'queued', error: { code: error.code, message: error.message, file: error.file, line: error.line } }));
    throw error;
  }
  await finish(deps, id, publisher, started, { state: 'failed', error: { code: error.code, message: error.message, file: error.file, line: error.line } });
  throw new UnrecoverableError(error.toString());
}

/** Final record state, the one `build.done` event, and the metrics feed. */
async function finish(
  deps: ProcessorDeps, id: string, publisher: EventPublisher, started: number,
  outcome: { state: BuildState; imageDigest?: string; pushed?: BuildRecord['pushed']; error?: BuildRecord['error'] },
): Promise<void> {
  const finishedAt = Date.now();
  await deps.records.update(id, (r) => ({
    ...r, state: outcome.state, finishedAt, imageDigest: outcome.imageDigest, pushed: outcome.pushed ?? [], error: outcome.error,
    ...(publisher.cacheStats ? { cache: publisher.cacheStats } : {}),
  }));
  await publisher.finish({
    type: 'build.done', imageDigest: outcome.imageDigest, durationMs: finishedAt - started, time: finishedAt,
    error: outcome.error ? { code: outcome.error.code, message: outcome.error.message, line: outcome.error.line } : undefined,
  });
  await deps.records.recordFinished({
    state: outcome.state, durationMs: finishedAt - started, cachedSteps: publisher.cachedSteps, executedSteps: publisher.executedSteps,
    ...(publisher.cacheStats ? { cache: publisher.cacheStats } : {}),
  });
}

/** What BullMQ fails a job with, without running it, once its workers died under it too often (a deferred failure). */
export const ABANDONED_MESSAGES = ['job stalled more than allowable limit', 'job started more than allowable limit'];

/**
 * A job BullMQ failed without running the processor (its worker was killed mid-build more often than
 * `maxStalledCount` allows): the record would say `running` for ever. It ends `failed` with a reason a user can
 * act on, and the one `build.done` a log follower waits for. False when the record was already final.
 */
export async function failAbandoned(records: BuildRecords, id: string, bullReason: string): Promise<boolean> {
  const message = `the worker running this build stopped (killed, out of memory, or its machine went away) once too often; `
    + `not retried again (BullMQ: ${bullReason})`;
  const finishedAt = Date.now();
  let changed: BuildRecord | undefined;
  await records.update(id, (record) => {
    if (isTerminal(record.state)) return undefined;
    changed = { ...record, state: 'failed', finishedAt, error: { code: 'INTERNAL', message } };
    return changed;
  });
  if (!changed) return false;
  const durationMs = finishedAt - (changed.startedAt ?? changed.createdAt);
  await records.publish(id, { type: 'build.done', durationMs, time: finishedAt, error: { code: 'INTERNAL', message } });
  await records.recordFinished({ state: 'failed', durationMs, cachedSteps: 0, executedSteps: 0 });
  return true;
}
