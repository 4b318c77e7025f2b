import { transferLine } from './progress-transfer.js';
import type { BuildEvent } from '../events.js';

/**
 * BuildKit's plain progress: `#3 [2/5] RUN make`, output lines with seconds since the step began,
 * then `#3 DONE 0.4s` or `#3 CACHED`. Writes to stderr so stdout stays for the image id.
 */
export function plainProgress(write: (text: string) => void = (t) => process.stderr.write(t)): (event: BuildEvent) => void {
  const startedAt = new Map<string, number>();
  const partial = new Map<string, string>();
  const flush = (stepId: string): void => {
    const rest = partial.get(stepId);
    if (rest) write(`${stepId} ${elapsed(startedAt.get(stepId))} ${rest}\n`);
    partial.delete(stepId);
  };
  return (event) => {
    switch (event.type) {
      case 'step.start':
        startedAt.set(event.stepId, event.time);
        write(`${event.stepId} ${event.name}\n`);
        if (event.reason) write(`${event.stepId} cache miss: ${event.reason}\n`);
        break;
      case 'step.cached':
        write(`${event.stepId} ${event.name}\n${event.stepId} CACHED${event.builtBy ? ` (built by ${event.builtBy})` : ''}\n`);
        break;
      case 'warning':
        write(`WARNING: ${event.message}\n`);
        break;
      case 'step.log': {
        const lines = ((partial.get(event.stepId) ?? '') + event.data).split('\n');
        partial.set(event.stepId, lines.pop() ?? '');
        for (const line of lines) write(`${event.stepId} ${elapsed(startedAt.get(event.stepId), event.time)} ${line}\n`);
        break;
      }
      case 'step.done':
        flush(event.stepId);
        write(`${event.stepId} DONE ${(event.durationMs / 1000).toFixed(1)}s\n`);
        break;
      case 'step.error':
        flush(event.stepId);
        write(`${event.stepId} ERROR: ${event.message}\n`);
        break;
      case 'transfer':
        // A base-image pull: one line per layer when it is finished, as docker pull without a terminal.
        if (event.status !== 'waiting' && event.status !== 'downloading' && event.status !== 'uploading') {
          write(`${event.direction} ${event.ref}: ${transferLine(event, false, 0)}\n`);
        }
        break;
      case 'build.done':
        if (!event.error) write(`writing image ${event.imageDigest} done in ${(event.durationMs / 1000).toFixed(1)}s\n`);
        break;
    }
  };
}

function elapsed(start: number | undefined, now = Date.now()): string {
  return ((now - (start ?? now)) / 1000).toFixed(3);
}
