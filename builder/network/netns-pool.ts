/**
 * Prepared network namespaces for isolated RUN steps. Attaching a netns to the build bridge (netavark setup, the
 * isolated bridge port) and detaching it afterwards cost more than the RUN itself (~80 ms of 134 ms, measured on
 * the network bench), so a worker keeps a few attached ahead: a RUN takes one at once, the pool refills in the
 * background, and the used netns is detached in the background too.
 *
 * A netns is used by exactly one RUN and then destroyed, never handed out again: a RUN may change its routes,
 * addresses or firewall, and the next build must not see them. Every prepared netns is recorded with this
 * process as its owner, so a killed worker leaves nothing that `reapOrphans` (run by the next build network setup
 * and by cleanupBuildNetwork) does not remove.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { NetworkRecord } from './network-record.js';

/** How many attached netns a worker keeps ready (BUILDER_BUILD_NETNS_POOL; 0 attaches one per RUN, as before). */
export function poolSize(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.BUILDER_BUILD_NETNS_POOL ?? 2);
  return Number.isInteger(value) && value >= 0 && value <= 16 ? value : 2;
}

/** One attachment to the build network: `id` is its record in the attachment table. */
export interface PreparedNetns {
  id: string;
  netnsPath: string;
}

type Prepare = (id: string) => Promise<PreparedNetns>;
type Destroy = (id: string) => Promise<void>;

export class NetnsPool {
  private readonly ready: PreparedNetns[] = [];
  private filling = 0;
  /** RUNs waiting for a refill already under way (take with nothing ready). */
  private readonly waiters: { resolve(netns: PreparedNetns): void; reject(err: unknown): void }[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;

  constructor(readonly network: NetworkRecord, private readonly size: number, private readonly prepare: Prepare, private readonly destroy: Destroy) {}

  /** A netns for one RUN: a prepared one when there is one (its netns file still there), else one attached now. */
  async take(): Promise<PreparedNetns> {
    for (let next = this.ready.shift(); next; next = this.ready.shift()) {
      this.refill();
      if (await stat(next.netnsPath).then(() => true, () => false)) return next;
      this.track(this.destroy(next.id));
    }
    // Refills already under way come first in the networks lock's queue: wait for the next of them rather than queue
    // one more attach behind them (concurrent RUNs of a busy worker would otherwise wait for every refill).
    if (this.filling > this.waiters.length) {
      const next = await new Promise<PreparedNetns>((resolve, reject) => this.waiters.push({ resolve, reject }));
      this.refill();
      return next;
    }
    const made = await this.prepare(newId());
    this.refill();
    return made;
  }

  /** The RUN is over: its netns goes, off the RUN's path; `drain` waits for it. */
  release(netns: PreparedNetns): void {
    this.track(this.destroy(netns.id));
  }

  /** Destroys the prepared netns and waits for every background attach and detach (engine close, cleanup). */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    const left = this.ready.splice(0);
    await Promise.allSettled(left.map((netns) => this.destroy(netns.id)));
  }

  private refill(): void {
    while (!this.closed && this.ready.length + this.filling < this.size) {
      this.filling++;
      this.track(this.prepare(newId()).then((netns) => {
        const waiter = this.waiters.shift();
        if (waiter) return waiter.resolve(netns);
        if (this.closed) return this.destroy(netns.id);
        this.ready.push(netns);
        return undefined;
      }, (err: unknown) => {
        // A waiter is owed a netns: it gets its own attempt (and its error), never a hang.
        const waiter = this.waiters.shift();
        if (waiter) this.prepare(newId()).then(waiter.resolve, waiter.reject);
        throw err;
      }).finally(() => { this.filling--; }));
    }
  }

  /** Background work is awaited by `drain`; its failures are not the RUN's (a failed attach leaves nothing behind). */
  private track(work: Promise<unknown>): void {
    const settled = work.catch(() => undefined);
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
  }
}

/** RUN attachments are named like runc ids (`builder-<12 hex>`): tests and `ip netns` tell them by that. */
function newId(): string {
  return `builder-${randomBytes(6).toString('hex')}`;
}

const pools = new Map<string, NetnsPool>();

export function poolOf(root: string): NetnsPool | undefined {
  return pools.get(root);
}

export function setPool(root: string, pool: NetnsPool): void {
  pools.set(root, pool);
}

/** Empties the store's pool (engine close, cleanupBuildNetwork): no prepared netns outlives its user. */
export async function drainNetnsPool(root: string): Promise<void> {
  const pool = pools.get(root);
  if (!pool) return;
  pools.delete(root);
  await pool.drain();
}
