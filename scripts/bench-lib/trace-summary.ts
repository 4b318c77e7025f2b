/**
 * One line saying where a traced build's time went (builder build --trace), for the bench report: the build's wall
 * time and its costliest phases summed over the steps. Container spans (exec, commit) are left out: their
 * children are listed, and counting both would count the same time twice; so is work beside the steps.
 */
import { readFileSync } from 'node:fs';

interface TraceEvent { name: string; ph: string; tid: number; cat?: string; dur?: number }

const CONTAINERS = new Set(['exec', 'commit']);
/** builder/trace's row of work that runs beside the steps (not on the build's critical path). */
const BACKGROUND_TRACK = 10_000;

export function summarizeTrace(file: string, top = 6): string | undefined {
  let events: TraceEvent[];
  try {
    events = (JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: TraceEvent[] }).traceEvents;
  } catch {
    return undefined;
  }
  const build = events.find((e) => e.ph === 'X' && e.cat === 'build');
  if (!build) return undefined;
  const phases = new Map<string, { ms: number; count: number }>();
  for (const event of events) {
    if (event.ph !== 'X' || event.cat !== 'phase' || CONTAINERS.has(event.name) || event.tid === BACKGROUND_TRACK) continue;
    const entry = phases.get(event.name) ?? { ms: 0, count: 0 };
    entry.ms += (event.dur ?? 0) / 1000;
    entry.count++;
    phases.set(event.name, entry);
  }
  const costliest = [...phases].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)
    .map(([name, { ms, count }]) => `${name} ${ms.toFixed(0)} ms${count > 1 ? ` ×${count}` : ''}`);
  return `build ${((build.dur ?? 0) / 1000).toFixed(0)} ms: ${costliest.join(', ')}`;
}
