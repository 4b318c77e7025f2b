/**
 * Cancelling a build: a queued job is removed from the queue and ends `cancelled` at once; a running one is
 * flagged in its record and its worker is told on the cancel channel, which aborts the sandbox.
 */
import type { Queue } from 'bullmq';
import type { BuildRequest } from '../builder/request.js';
import { isTerminal, type BuildRecord, type BuildRecords } from '../worker/build-records.js';

const QUEUED_JOB_STATES = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children']);

/** Returns the record after the cancel request (undefined when there is no such build). */
export async function cancelBuild(records: BuildRecords, queue: Queue<BuildRequest>, id: string, reason: string): Promise<BuildRecord | undefined> {
  const record = await records.get(id);
  if (!record || isTerminal(record.state)) return record;
  const job = await queue.getJob(id);
  let removed = !job;
  if (job && QUEUED_JOB_STATES.has(await job.getState())) {
    // A worker may take it between the two calls: then remove() fails on the lock and we cancel it running.
    removed = await job.remove().then(() => true, () => false);
  }
  if (removed) {
    const finishedAt = Date.now();
    const cancelled = await records.update(id, (r) => (isTerminal(r.state) ? undefined : {
      ...r, state: 'cancelled', finishedAt, cancelReason: reason, error: { code: 'CANCELLED', message: reason },
    }));
    if (cancelled?.state === 'cancelled' && cancelled.finishedAt === finishedAt) {
      await records.publish(id, { type: 'build.done', durationMs: 0, time: finishedAt, error: { code: 'CANCELLED', message: reason } });
      await records.recordFinished({ state: 'cancelled', durationMs: 0, cachedSteps: 0, executedSteps: 0 });
    }
    return cancelled;
  }
  const flagged = await records.update(id, (r) => (isTerminal(r.state) ? undefined : { ...r, cancelReason: reason }));
  await records.redis.publish(records.cancelChannel, JSON.stringify({ id, reason }));
  return flagged;
}
