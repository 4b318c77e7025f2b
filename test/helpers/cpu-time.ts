/**
 * CPU time this process spent since a mark, in ms. Tests that bound a pathological input (a regex that backtracks,
 * a parser that goes quadratic) bound the work it costs, not the wall clock: on a loaded machine the wall clock
 * also counts the time spent waiting for a core, which is the load, not the code.
 */
export interface CpuMark {
  readonly usage: NodeJS.CpuUsage;
}

export function cpuMark(): CpuMark {
  return { usage: process.cpuUsage() };
}

/** User + system CPU ms since `mark` (every thread of the process, the libuv pool included). */
export function cpuMsSince(mark: CpuMark): number {
  const used = process.cpuUsage(mark.usage);
  return (used.user + used.system) / 1000;
}
