/**
 * A major GC between builds once the JS heap holds more than a bound of garbage (issue 13: a worker's RSS must not
 * grow over 50 builds). Left to itself V8 runs almost no mark-compact in a worker's first hundred-odd builds: the
 * old generation fills with what the scavenger promoted (each build's short-lived request, session and event
 * objects) up to a limit set from the heap V8 may reach, and RSS follows the pages it touches while the live heap
 * stays at ~16 MiB (docs/ARCHITECTURE.md, "Worker memory"). Collecting when a build has finished, and only once
 * the garbage passed `slackBytes`, keeps RSS level at a cost of a few ms every few builds, paid between builds
 * rather than inside a step.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** What the worker logs about one decision: whether it collected, how long it took, what was live after. */
export interface HeapTrimResult {
  collected: boolean;
  ms?: number;
  liveMiB?: number;
}

const MIB = 1048576;

/**
 * V8's gc() without starting node with --expose-gc: bin/builder serves every command and NODE_OPTIONS is the
 * user's. The flag is on only while one function is taken from a fresh context, then off again, so no other
 * context (user code never runs in this process, but libraries might make one) gets a global `gc`.
 */
function takeGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as () => void;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined; // a V8 that refuses the flag: RSS is then V8's business, as before
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/**
 * The heap in use outside the young generation: what only a mark-compact frees. The young generation is left out
 * (the scavenger empties it often; counting it would make the bound fire on a build's short-lived objects).
 */
function oldGeneration(): number {
  let bytes = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('new_')) bytes += space.space_used_size;
  }
  return bytes;
}

export class HeapTrim {
  private readonly gc: (() => void) | undefined;
  /** The old generation in use right after our last collection (or at start): what the next bound is measured from. */
  private baseline: number;

  constructor(private readonly slackBytes = 8 * MIB) {
    this.gc = takeGc();
    this.baseline = oldGeneration();
  }

  /** Called when a build has finished: collects if the heap grew `slackBytes` past the last baseline. */
  afterBuild(): HeapTrimResult {
    if (!this.gc) return { collected: false };
    const used = oldGeneration();
    if (used - this.baseline < this.slackBytes) {
      // A collection V8 ran by itself may have left the heap below our baseline: follow it down.
      if (used < this.baseline) this.baseline = used;
      return { collected: false };
    }
    const started = process.hrtime.bigint();
    this.gc();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    this.baseline = oldGeneration();
    return { collected: true, ms: Math.round(ms * 10) / 10, liveMiB: Math.round((this.baseline / MIB) * 10) / 10 };
  }
}
