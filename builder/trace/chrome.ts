/**
 * Spans → Chrome's Trace Event Format (JSON object form), which chrome://tracing, Perfetto (ui.perfetto.dev) and
 * speedscope open: `ph: "X"` complete events with `ts`/`dur` in µs, one `pid` for the build and one `tid` per
 * stage (named by `thread_name` metadata events), so the viewer nests each step's phases under the step.
 */
import { writeFileAtomic } from '../store/atomic-write.js';
import type { SpanArgs, Tracer } from './tracer.js';

export interface TraceEvent {
  name: string;
  ph: 'X' | 'M';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  args?: SpanArgs | { name: string };
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  otherData: { tool: string; version: number };
}

const BUILD_PID = 1;

export function toChromeTrace(tracer: Tracer): ChromeTrace {
  const spans = [...tracer.finish()];
  // Parents before children at equal start times: viewers nest by order when timestamps tie (µs resolution).
  spans.sort((a, b) => a.startUs - b.startUs || b.durUs - a.durUs || a.id - b.id);
  const metadata: TraceEvent[] = [
    { name: 'process_name', ph: 'M', pid: BUILD_PID, tid: 0, args: { name: tracer.name } },
    ...[...tracer.tracks].map(([track, name]): TraceEvent => ({ name: 'thread_name', ph: 'M', pid: BUILD_PID, tid: track, args: { name } })),
  ];
  const complete = spans.map((span): TraceEvent => ({
    name: span.name, cat: span.cat, ph: 'X', pid: BUILD_PID, tid: span.track, ts: span.startUs, dur: span.durUs, args: span.args,
  }));
  return { traceEvents: [...metadata, ...complete], displayTimeUnit: 'ms', otherData: { tool: 'builder', version: 1 } };
}

/** Writes the trace to `file` atomically (a viewer never opens half a trace). */
export async function writeChromeTrace(tracer: Tracer, file: string): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(toChromeTrace(tracer)), { sync: false });
}
