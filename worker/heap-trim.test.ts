import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { HeapTrim } from './heap-trim.js';

const oldGenerationMiB = (): number => v8.getHeapSpaceStatistics()
  .filter((space) => !space.space_name.startsWith('new_')).reduce((sum, space) => sum + space.space_used_size, 0) / 1048576;

describe('HeapTrim (a major GC between builds once garbage passes a bound)', () => {
  it('leaves a heap that grew less than the bound alone', () => {
    const trim = new HeapTrim(64 * 1048576);
    assert.deepEqual(trim.afterBuild(), { collected: false });
  });

  it('collects garbage promoted to the old generation once it passes the bound, and measures from there', () => {
    const trim = new HeapTrim(4 * 1048576);
    // Objects that survive two scavenges are promoted; dropping them leaves old-generation garbage only a
    // mark-compact frees (what a worker's builds leave behind).
    let held: { i: number; s: string }[][] = [];
    for (let round = 0; round < 20; round++) {
      held.push(Array.from({ length: 20_000 }, (_, i) => ({ i, s: `build ${round} object ${i}` })));
      for (let i = 0; i < 5; i++) Array.from({ length: 50_000 }, (_, j) => ({ j })); // young garbage: forces scavenges
    }
    held = [];
    const before = oldGenerationMiB();
    const result = trim.afterBuild();
    assert.equal(result.collected, true, `old generation ${before.toFixed(1)} MiB`);
    assert.ok(result.liveMiB! < before - 4, `live after ${result.liveMiB} MiB vs ${before.toFixed(1)} MiB before`);
    assert.equal(held.length, 0);
    // Straight after a collection the baseline is the live heap: nothing to do.
    assert.equal(trim.afterBuild().collected, false);
  });
});
