import type { CacheBackend, CacheCall, CacheEntry, CacheHit, CacheLease } from './backend.js';
import type { CacheKey } from './key.js';
import type { StepTrace } from './explain.js';

/**
 * Local records first (no network for what this machine built), then the shared index. What is built here is
 * recorded in both, so every other worker hits it. Single-flight goes through the shared backend.
 */
export class TieredCache implements CacheBackend {
  readonly name = 'tiered';

  constructor(private readonly local: CacheBackend, private readonly shared: CacheBackend) {}

  async get(key: CacheKey, call: CacheCall): Promise<CacheHit | undefined> {
    return (await this.local.get(key, call)) ?? this.shared.get(key, call);
  }

  async put(key: CacheKey, entry: CacheEntry, call: CacheCall, layerPath?: string): Promise<void> {
    await this.local.put(key, entry, call, layerPath);
    await this.shared.put(key, entry, call, layerPath);
  }

  acquire(key: CacheKey, call: CacheCall, onWait: (holder: string) => void): Promise<CacheLease | CacheHit> {
    return this.shared.acquire ? this.shared.acquire(key, call, onWait) : Promise.resolve({ release: async () => {} });
  }

  async getTrace(identity: string, call: CacheCall): Promise<StepTrace | undefined> {
    return this.shared.getTrace?.(identity, call);
  }

  async putTrace(identity: string, trace: StepTrace, call: CacheCall): Promise<void> {
    await this.shared.putTrace?.(identity, trace, call);
  }

  async forget(key: CacheKey): Promise<void> {
    await this.local.forget?.(key);
    await this.shared.forget?.(key);
  }

  async close(): Promise<void> {
    await this.local.close?.();
    await this.shared.close?.();
  }
}
