import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxArchive } from '../../test/helpers/busybox-fixture.js';
import { repoRoot } from '../../test/helpers/cli.js';
import { builderDaemonTool } from './tool-builder-daemon.js';
import type { BenchTool } from './tool.js';

/** What a store holds that would make a build warm: snapshots, blobs, tags and cache records. */
async function storeState(store: string): Promise<{ snapshots: string[]; blobs: string[]; tags: string[]; records: string[] }> {
  const index = JSON.parse(await readFile(join(store, 'oci', 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  return {
    snapshots: (await readdir(join(store, 'snapshots'))).filter((name) => /^[0-9a-f]{64}$/.test(name)).sort(),
    blobs: (await readdir(join(store, 'oci', 'blobs', 'sha256'))).sort(),
    tags: index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '').sort(),
    records: (await readdir(join(store, 'cache')).catch(() => [] as string[])).filter((name) => /^[0-9a-f]{64}\.json$/.test(name)),
  };
}

describe('bench: ours via a warm builder daemon', function () {
  this.timeout(180_000);
  let work = '';
  let runDir = '';
  let tool: BenchTool | undefined;

  before(async function () {
    if (process.getuid?.() !== 0 || !existsSync(join(repoRoot, 'dist', 'builder', 'cli', 'entry.cjs'))) {
      console.log('      skipped: the daemon builds with runc and overlay mounts (root) from the built CLI (npm run build)');
      this.skip();
    }
    work = await mkdtemp(join(tmpdir(), 'daemon-tool-test-'));
    // The daemon's socket path must stay short (108 bytes).
    runDir = await mkdtemp('/run/bdt-');
    tool = builderDaemonTool(repoRoot);
    await tool.setup({ repoDir: repoRoot, scratchDir: work, runDir, busyboxTar: await busyboxArchive(work) });
  });

  after(async () => {
    await tool?.teardown();
    if (work) await rm(work, { recursive: true, force: true });
    if (runDir) await rm(runDir, { recursive: true, force: true });
  });

  it('starts every sample cold: the last build leaves no tag, record, blob or snapshot, and its context is a new copy', async () => {
    const store = join(work, 'builder-daemon', 'store');
    const context = join(repoRoot, 'test-dockerfiles', 'bench-small');
    // After set-up (busybox loaded, the warm-up build, a reset) only busybox is left.
    const cold = await storeState(store);
    assert.ok(cold.tags.every((tag) => tag.startsWith('busybox')), `only the loaded busybox is tagged: ${cold.tags.join(', ')}`);
    assert.deepEqual(cold.records, []);
    assert.equal(cold.snapshots.length, 1, 'only the one-layer busybox is unpacked: the warm-up left nothing');

    await tool!.resetCaches!({ context });
    const copies = (await readdir(join(work, 'builder-daemon'))).filter((name) => name.startsWith('context-'));
    assert.equal(copies.length, 1);
    await tool!.build!(context, 'bench-small:test');
    const built = await storeState(store);
    assert.ok(built.tags.includes('bench-small:test'), 'the build went through the daemon into its store');
    assert.ok(built.records.length > 0 && built.snapshots.length > cold.snapshots.length, 'its steps ran and were recorded');

    await tool!.resetCaches!({ context });
    assert.deepEqual(await storeState(store), cold);
    const nextCopies = (await readdir(join(work, 'builder-daemon'))).filter((name) => name.startsWith('context-'));
    assert.equal(nextCopies.length, 1);
    assert.notEqual(nextCopies[0], copies[0], 'each sample reads a context copy no earlier build has hashed');
  });
});
