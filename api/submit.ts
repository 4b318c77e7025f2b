/**
 * Queueing a build: one record + one BullMQ job under the same id. Ids derived from an Idempotency-Key
 * or a webhook delivery id make a retried submission the same build.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { BuildRequest } from '../builder/request.js';
import type { BuildRecords } from '../worker/build-records.js';

/** A stable id from a scope (token name, webhook provider) and a client-chosen key. */
export function derivedId(scope: string, key: string): string {
  return createHash('sha256').update(`${scope}\0${key}`).digest('hex').slice(0, 32);
}

export interface SubmitOptions {
  /** Default: a new random id. */
  id?: string;
  priority: number;
  attempts: number;
}

/** Creates the build; `created` is false when that id already existed (nothing new is queued). */
export async function submitBuild(
  records: BuildRecords, queue: Queue<BuildRequest>, request: BuildRequest, options: SubmitOptions,
): Promise<{ id: string; created: boolean }> {
  const id = options.id ?? randomUUID().replaceAll('-', '');
  const created = await records.create({
    id, state: 'queued', request, repository: request.repository, createdAt: Date.now(), steps: [], pushed: [], workers: [],
  });
  if (!created) return { id, created: false };
  await queue.add('build', request, {
    jobId: id,
    priority: options.priority,
    attempts: options.attempts,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  });
  return { id, created: true };
}
