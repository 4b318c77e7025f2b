/**
 * The engine's BuildEvents as the classic builder's JSON messages: `Step 2/5 : RUN make`, ` ---> Using cache`,
 * the step's output, then `{"aux":{"ID":…}}` and `Successfully built …`, which is what `docker build` prints.
 */
import { BuildError } from '../../builder/errors.js';
import type { BuildEvent } from '../../builder/events.js';
import type { JsonMessage } from './json-stream.js';

const STEP_NAME = /^\[(?:(.+) )?(\d+)\/(\d+)\] (.*)$/s;

/** `[2/5] RUN make` → `Step 2/5 : RUN make`; `[build 2/5] RUN make` → `Step build 2/5 : RUN make`. */
export function classicStepName(name: string): string {
  const match = STEP_NAME.exec(name);
  if (!match) return name;
  const [, stage, position, total, source] = match;
  return `Step ${stage ? `${stage} ` : ''}${position}/${total} : ${source}`;
}

/** One BuildEvent → the messages docker's classic builder would send for it (none for most bookkeeping). */
export function buildEventMessages(event: BuildEvent): JsonMessage[] {
  switch (event.type) {
    case 'step.start': {
      const messages: JsonMessage[] = [{ stream: `${classicStepName(event.name)}\n` }];
      if (event.reason) messages.push({ stream: ` ---> cache miss: ${event.reason}\n` });
      return messages;
    }
    case 'step.cached':
      return [{ stream: `${classicStepName(event.name)}\n` }, { stream: ' ---> Using cache\n' }];
    case 'step.log':
      return [{ stream: event.data }];
    case 'step.done':
      return [{ stream: ` ---> Done ${(event.durationMs / 1000).toFixed(1)}s\n` }];
    default:
      return [];
  }
}

/** The final error message; a failed RUN carries its exit code, which `docker build` exits with. */
export function buildErrorMessage(err: unknown): JsonMessage {
  const message = err instanceof BuildError ? err.toString() : err instanceof Error ? err.message : String(err);
  const exit = err instanceof BuildError && err.code === 'RUN_FAILED' ? /exit code:? (\d+)/.exec(err.message) : null;
  const code = exit ? Number(exit[1]) : 1;
  return { errorDetail: { message, code }, error: message };
}
