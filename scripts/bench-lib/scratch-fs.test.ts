import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './proc.js';
import { mountScratchFs, mountsUnder } from './scratch-fs.js';

describe('bench scratch fs', function () {
  let work = '';

  before(function () {
    if (process.getuid?.() !== 0) {
      console.log('      skipped: loop-mounting an ext4 scratch image needs root');
      this.skip();
    }
  });
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'scratch-fs-test-'));
  });
  afterEach(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('loop-mounts a sparse ext4 image and cleans up mounts nested inside it', async () => {
    const mountPoint = join(work, 'mnt');
    const image = join(work, 'scratch.img');
    const scratch = await mountScratchFs({ image, mountPoint, sizeBytes: 64 * 2 ** 20 });
    try {
      const fsType = await runCommand('findmnt', ['-n', '-o', 'FSTYPE', mountPoint]);
      assert.equal(fsType.stdout.trim(), 'ext4');
      await writeFile(join(mountPoint, 'probe'), 'x');
      // What a daemon might leave behind: a mount inside the scratch fs.
      const nested = join(mountPoint, 'nested');
      await mkdir(nested);
      await runCommand('mount', ['-t', 'tmpfs', 'tmpfs', nested]);
      assert.deepEqual(await mountsUnder(mountPoint), [nested, mountPoint]);
    } finally {
      await scratch.cleanup();
    }
    assert.deepEqual(await mountsUnder(mountPoint), []);
    assert.equal(existsSync(image), false);
    await scratch.cleanup(); // idempotent
  });
});
