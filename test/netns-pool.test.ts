/**
 * The pool of netns attached ahead for isolated RUNs (builder/network/netns-pool.ts), on real netavark: a worker
 * killed with SIGKILL while it holds prepared netns leaves nothing that the next worker's reaping does not remove,
 * and an engine that closes takes its prepared netns with it.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetavarkNetworking } from '../builder/network/attach.js';
import { readAttachments } from '../builder/network/attachments.js';
import { cleanupBuildNetwork } from '../builder/network/build-network.js';
import { netavarkBinaries } from '../builder/network/netavark.js';
import { createEngine } from '../builder/engine.js';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const ENGINE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'builder', 'engine.js');
const exists = (file: string): Promise<boolean> => stat(file).then(() => true, () => false);

async function ownedBy(root: string, pid: number): Promise<string[]> {
  return Object.values((await readAttachments(root)).containers).filter((r) => r.ownerPid === pid).map((r) => r.netnsPath);
}

describe('build network netns pool', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let context = '';

  before(async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: needs root'); this.skip(); }
    try { await netavarkBinaries(); } catch (err) { console.log(`    skipped: ${(err as Error).message}`); this.skip(); }
    scratch = await makeTempDir('netns-pool-scratch');
    root = await makeFixtureRoot('netns-pool-root', scratch);
    context = path.join(scratch, 'ctx');
    await mkdir(context);
    await writeFile(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN true\n');
  });
  after(async () => {
    if (root) await cleanupBuildNetwork(root);
    if (root) await removeTempDir(root);
    if (scratch) await removeTempDir(scratch);
  });

  const request = { contextDir: '', dockerfilePath: '', dockerfileName: 'Dockerfile', tags: [], buildArgs: {}, noCache: true, network: 'isolated' as const, allowHostNetwork: false, networkPolicy: { allowCidrs: [], denyCidrs: [] } };

  it('keeps netns ready while the engine is open and removes them when it closes', async () => {
    const engine = await createEngine({ root });
    try {
      await engine.build({ ...request, contextDir: context, dockerfilePath: path.join(context, 'Dockerfile') });
      const deadline = Date.now() + 20_000;
      while ((await ownedBy(root, process.pid)).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      // The pool's two (and, for a moment, the used one being detached): the RUN did not wait for either.
      assert.ok((await ownedBy(root, process.pid)).length >= 2, 'the pool prepared netns ahead');
    } finally {
      await engine.close();
    }
    assert.deepEqual(await ownedBy(root, process.pid), []);
  });

  it('RUNs of concurrent builds each get a netns of their own (waiting for a refill under way), and nothing stays', async () => {
    const engine = await createEngine({ root });
    const addresses: string[] = [];
    try {
      await Promise.all(Array.from({ length: 5 }, async (_, i) => {
        const dir = path.join(scratch, `ctx-concurrent-${i}`);
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, 'Dockerfile'), `FROM busybox\nRUN ip -4 -o addr show eth0 # ${i}\nRUN ip -4 -o addr show eth0 # ${i} again\n`);
        await engine.build({ ...request, contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile') }, {
          onEvent: (event) => {
            if (event.type !== 'step.log') return;
            const address = /inet (\d+\.\d+\.\d+\.\d+)/.exec(event.data)?.[1];
            if (address) addresses.push(address);
          },
        });
      }));
    } finally {
      await engine.close();
    }
    assert.equal(addresses.length, 10, addresses.join(' '));
    assert.deepEqual(await ownedBy(root, process.pid), []);
  });

  it('a worker SIGKILLed with prepared netns leaves nothing after the next worker reaps', async () => {
    // The child builds once (the pool fills behind the RUN), says how many netns it holds, then waits to be killed.
    const script = `
      import { createEngine } from ${JSON.stringify(ENGINE)};
      import { readAttachments } from ${JSON.stringify(path.join(path.dirname(ENGINE), 'network', 'attachments.js'))};
      const engine = await createEngine({ root: ${JSON.stringify(root)} });
      await engine.build(${JSON.stringify({ ...request, contextDir: context, dockerfilePath: path.join(context, 'Dockerfile') })});
      for (;;) {
        const mine = Object.values((await readAttachments(${JSON.stringify(root)})).containers).filter((r) => r.ownerPid === process.pid);
        if (mine.length >= 2) { console.log('ready'); break; }
        await new Promise((r) => setTimeout(r, 100));
      }
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('ready')) resolve(); });
      child.once('exit', (code) => reject(new Error(`the child worker exited (${code}) before its pool was ready`)));
    });
    const pid = child.pid!;
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const left = await ownedBy(root, pid);
    // (One may be half made or half removed: the kill lands wherever it lands.)
    assert.ok(left.length >= 2, 'the killed worker held prepared netns (else this test proves nothing)');
    assert.ok((await Promise.all(left.map(exists))).filter(Boolean).length >= 1, 'its netns are on the machine');
    // What a restarted worker's build network setup (and cleanupBuildNetwork) runs first.
    const reaped = await new NetavarkNetworking(root).reapOrphans();
    assert.ok(reaped.length >= left.length);
    assert.deepEqual(await ownedBy(root, pid), []);
    for (const netns of left) assert.equal(await exists(netns), false, `${netns} is still there`);
  });
});
