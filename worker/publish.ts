/**
 * BuildEvent → Redis: every event goes to the build's stream in order (the API replays it as SSE);
 * step events also update the record's step list. The engine's own `build.done` is held back: the
 * worker publishes the one final `build.done` after pushing, so a failed push is the build's outcome.
 */
import type { BuildEvent } from '../builder/events.js';
import type { BuildCacheStats, BuildRecords, StepRecord } from './build-records.js';

export class EventPublisher {
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  cachedSteps = 0;
  executedSteps = 0;
  /** The engine's cache counters for this build, once it finished. */
  cacheStats?: BuildCacheStats;

  constructor(private readonly records: BuildRecords, private readonly id: string) {}

  /** The engine's EventSink: synchronous, ordered through one promise chain. */
  readonly onEvent = (event: BuildEvent): void => {
    if (event.type === 'build.done') return;
    if (event.type === 'step.cached') this.cachedSteps++;
    if (event.type === 'step.done') this.executedSteps++;
    this.enqueue(async () => {
      await this.records.publish(this.id, event);
      if (event.type !== 'step.log') await this.records.update(this.id, (record) => ({ ...record, steps: applyStep(record.steps, event) }));
    });
  };

  /** Publishes the final event and waits until everything before it is in Redis. */
  async finish(event: Extract<BuildEvent, { type: 'build.done' }>): Promise<void> {
    this.enqueue(async () => { await this.records.publish(this.id, event); });
    await this.flush();
  }

  async flush(): Promise<void> {
    await this.chain;
    if (this.failure) throw this.failure;
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err: unknown) => { this.failure ??= err; });
  }
}

/** Folds one step event into the step list the status endpoint shows. */
export function applyStep(steps: StepRecord[], event: BuildEvent): StepRecord[] {
  switch (event.type) {
    case 'step.start':
      return [...steps, { stepId: event.stepId, name: event.name, line: event.line, state: 'running', cached: false, startedAt: event.time }];
    case 'step.cached':
      return [...steps, { stepId: event.stepId, name: event.name, line: event.line, state: 'cached', cached: true, ...(event.builtBy ? { builtBy: event.builtBy } : {}), startedAt: event.time, durationMs: 0 }];
    case 'step.done':
      return steps.map((s) => (s.stepId === event.stepId ? { ...s, state: 'done', durationMs: event.durationMs } : s));
    case 'step.error':
      return steps.map((s) => (s.stepId === event.stepId ? { ...s, state: 'failed', durationMs: event.time - s.startedAt } : s));
    default:
      return steps;
  }
}
