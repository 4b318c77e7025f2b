import { open, stat } from 'node:fs/promises';
import type { LogEntry, LogsOptions } from './docker-types.js';

/**
 * Reads conmon's k8s-file log: `2026-12-01T07:50:00.123456789+00:00 stdout F text` per line, `P` for a partial
 * line continued on the next one. Lines are joined back, filtered by stream, since/until and tail; with
 * `follow` new lines are read as they come until `isRunning()` says the container stopped (`pause` between reads:
 * 100 ms, or until the log changes).
 */
export async function* readLogs(
  file: string, options: LogsOptions, isRunning: () => Promise<boolean>,
  pause: () => Promise<void> = () => new Promise((resolve) => setTimeout(resolve, 100)),
): AsyncGenerator<LogEntry> {
  const wantStdout = options.stdout ?? true;
  const wantStderr = options.stderr ?? true;
  const since = options.since ?? 0;
  const until = options.until ?? Infinity;
  let offset = options.fromOffset ?? 0;
  let pending = '';
  let partial: LogEntry | undefined;
  const keep = (entry: LogEntry): boolean => {
    const seconds = Date.parse(entry.time) / 1000;
    return (entry.stream === 'stdout' ? wantStdout : wantStderr) && seconds >= since && seconds <= until;
  };
  const parse = (text: string): LogEntry[] => {
    const entries: LogEntry[] = [];
    for (const line of text.split('\n')) {
      const match = /^(\S+) (stdout|stderr) ([PF]) ?(.*)$/s.exec(line);
      if (!match) continue;
      const [, rawTime = '', stream, tag, content = ''] = match;
      // conmon writes a +00:00 offset; docker prints RFC 3339 nano with Z.
      const time = rawTime.replace(/\+00:00$/, 'Z');
      if (options.partial) {
        // Attach: bytes as they come; the line is not joined back, so nothing waits for its newline.
        entries.push({ stream: stream as LogEntry['stream'], time, line: tag === 'F' ? `${content}\n` : content });
        continue;
      }
      if (partial && partial.stream === stream) partial = { ...partial, line: partial.line + content };
      else partial = { stream: stream as LogEntry['stream'], time, line: content };
      if (tag === 'F') {
        entries.push({ ...partial, line: partial.line + '\n' });
        partial = undefined;
      }
    }
    return entries;
  };
  const readMore = async (): Promise<LogEntry[]> => {
    const size = await stat(file).then((info) => info.size, () => 0);
    if (size <= offset) return [];
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(size - offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      offset += bytesRead;
      pending += buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
    const end = pending.lastIndexOf('\n');
    if (end < 0) return [];
    const complete = pending.slice(0, end);
    pending = pending.slice(end + 1);
    return parse(complete).filter(keep);
  };

  let first = await readMore();
  if (options.tail !== undefined && options.tail !== 'all') first = options.tail <= 0 ? [] : first.slice(-options.tail);
  yield* first;
  if (!options.follow) return;
  for (;;) {
    if (options.signal?.aborted) return;
    const running = await isRunning();
    yield* await readMore();
    if (!running) return;
    await pause();
  }
}
