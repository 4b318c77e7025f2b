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
import { build } from '../builder/solver/solve.js';
import type { Store } from '../builder/store/store.js';
import type { BuildRecords, BuildRecord, BuildState } from './build-records.js';
import { fetchContext } from './fetch-context.js';
import { EventPublisher } from './publish.js';

/** Why a running build's AbortController fired. */
export type AbortReason = { kind: 'cancel'; message: string } | { kind: 'shutdown' };

/** What a processor needs; `active` lets the worker abort running builds (cancel, shutdown). */
export interface ProcessorDeps {
  records: BuildRecords;
  store: Store;
  builderConfig: BuilderConfig;
  hostname: string;
  attempts: number;
  network: 'host' | 'none' | 'isolated';
  allowHostNetwork?: boolean;
  networkPolicy?: { allowCidrs: string[]; denyCidrs: string[] };
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
    // Under the store, not /tmp: a worker killed mid-build leaves nothing behind outside its BUILDER_ROOT.
    const workDir = await mkdtemp(path.join(deps.store.tmpDir, 'context-'));
    try {
      const running = await records.update(id, (r) => (r.state === 'cancelled' ? undefined
        : { ...r, state: 'running', startedAt: started, steps: [], error: undefined, workers: [...r.workers, deps.hostname] }));
      if (!running || running.state === 'cancelled') return { state: 'cancelled' };
      if (running.cancelReason) entry.controller.abort();
      const request = running.request;
      await fetchContext(request.context, workDir, records, entry.controller.signal);
      checkCancelled(entry.controller.signal);
      const dockerfilePath = path.join(workDir, request.dockerfile);
      if (!(await stat(dockerfilePath).then((s) => s.isFile(), () => false))) {
        throw new BuildError('INVALID_ARGUMENT', `Dockerfile "${request.dockerfile}" not found in the build context`);
      }
      const result = await build(deps.store, {
        contextDir: workDir, dockerfilePath, dockerfileName: request.dockerfile, tags: request.tags, buildArgs: request.buildArgs,
        target: request.target, noCache: request.noCache, network: deps.network, allowHostNetwork: deps.allowHostNetwork ?? false, networkPolicy: deps.networkPolicy, onEvent: publisher.onEvent, signal: entry.controller.signal,
      });
      const pushed: BuildRecord['pushed'] = [];
      if (request.push) {
        const { pushImage } = await import('../builder/registry/push.js');
        for (const tag of request.tags) {
          checkCancelled(entry.controller.signal);
          pushed.push(await pushImage(deps.store, tag, tag, { config: deps.builderConfig, signal: entry.controller.signal }));
        }
      }
      await publisher.flush();
      await finish(deps, id, publisher, started, { state: 'succeeded', imageDigest: result.manifest.digest, pushed });
      return { state: 'succeeded', imageDigest: result.manifest.digest };
    } catch (err) {
      return await handleFailure(deps, job, token, entry.reason, publisher, started, err);
    } finally {
      deps.active.delete(id);
      await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
  };
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
  }));
  await publisher.finish({
    type: 'build.done', imageDigest: outcome.imageDigest, durationMs: finishedAt - started, time: finishedAt,
    error: outcome.error ? { code: outcome.error.code, message: outcome.error.message, line: outcome.error.line } : undefined,
  });
  await deps.records.recordFinished({
    state: outcome.state, durationMs: finishedAt - started, cachedSteps: publisher.cachedSteps, executedSteps: publisher.executedSteps,
  });
}
