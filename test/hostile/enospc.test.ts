/**
 * ENOSPC: a store on a small loop-mounted ext4 (losetup via mount -o loop, mkfs.ext4). A build that fills it
 * fails with a message that says so, leaves no temp file or half-written blob, and the store keeps working.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mountScratchFs, type ScratchFs } from '../../scripts/bench-lib/scratch-fs.js';
import { busyboxArchive } from '../helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-root.js';
import { mountsUnder } from './escape-check.js';

function usedBytes(dir: string): number {
  return Number(execFileSync('df', ['-B1', '--output=used', dir], { encoding: 'utf8' }).trim().split('\n')[1]);
}

describe('faults: a full store (ENOSPC on a small loop-mounted ext4)', function () {
  this.timeout(120_000);
  let scratch = '';
  let fs: ScratchFs | undefined;
  let root = '';

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    skipped: loop mounts and builds need root');
      this.skip();
    }
    if ((await runCommand('sh', ['-c', 'command -v mkfs.ext4'])).code !== 0) {
      console.log('    skipped: mkfs.ext4 is missing (apt-get install e2fsprogs)');
      this.skip();
    }
    scratch = await makeTempDir('enospc');
    fs = await mountScratchFs({ image: path.join(scratch, 'store.img'), mountPoint: path.join(scratch, 'mnt'), sizeBytes: 48 * 1024 * 1024 });
    root = path.join(fs.dir, 'root');
    expectSuccess(await runCli(['load', '-i', await busyboxArchive(scratch)], { root }), 'load busybox');
  });
  after(async function () {
    await fs?.cleanup();
    await removeTempDir(scratch);
  });

  it('a layer that does not fit fails clearly, frees what it wrote, and the next build works', async function () {
    const ctx = path.join(scratch, 'ctx');
    await mkdir(ctx, { recursive: true });
    const before = usedBytes(fs!.dir);
    const indexBefore = await readFile(path.join(root, 'oci', 'index.json'), 'utf8');
    for (const megabytes of [30, 20]) {
      await writeFile(path.join(ctx, 'Dockerfile'), `FROM busybox\nRUN head -c ${megabytes * 1_000_000} /dev/urandom > /r\n`);
      const result = await runCli(['build', '--progress=plain', '-t', 'big', ctx], { root });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /Dockerfile:2: .*ENOSPC.*file system is full/);
    }
    assert.deepEqual(await readdir(path.join(root, 'tmp')), [], 'temp files left after ENOSPC');
    assert.deepEqual(mountsUnder(root), []);
    assert.equal(await readFile(path.join(root, 'oci', 'index.json'), 'utf8'), indexBefore, 'index.json changed');
    // The base layer is extracted once (~2 MB of busybox); the 30 MB and 20 MB that did not fit must be gone.
    assert.ok(usedBytes(fs!.dir) - before < 4_000_000, `${usedBytes(fs!.dir) - before} bytes still used`);
    await writeFile(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo small > /s\n');
    expectSuccess(await runCli(['build', '-t', 'small', ctx], { root }), 'build after ENOSPC');
    const run = expectSuccess(await runCli(['run', '--rm', 'small', 'cat', '/s'], { root }), 'run');
    assert.equal(run.stdout, 'small\n');
  });
});
