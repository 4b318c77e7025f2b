import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLayer } from './create.js';

/** Gives `file` an atime equal to its mtime, an hour ago: under relatime its next plain read updates the atime. */
async function freshAtime(file: string): Promise<number> {
  const when = new Date(Date.now() - 3600_000);
  await utimes(file, when, when);
  return (await stat(file)).atimeMs;
}

describe('layer/archive-open: the layer writer leaves atimes alone', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'archive-open-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads small files (reader thread and inline), a medium one and a big one without touching their atime', async function () {
    // A control read first: on a noatime (or strictatime-less lazy) mount nothing would change either way.
    const control = join(dir, 'control');
    await writeFile(control, 'x');
    const before = await freshAtime(control);
    await readFile(control);
    if ((await stat(control)).atimeMs === before) {
      // A noatime mount: a plain read does not update atimes, so there is nothing to compare.
      console.log('      skipped: the temp filesystem is mounted noatime (reads never update atimes here)');
      this.skip();
    }
    const tree = join(dir, 'tree');
    // 300 small files: more than the reader thread's threshold (read-ahead.ts READER_FROM = 256).
    await mkdir(join(tree, 'many'), { recursive: true });
    const files: string[] = [];
    for (let index = 0; index < 300; index++) files.push(join(tree, 'many', `f${index}`));
    files.push(join(tree, 'medium'), join(tree, 'big'));
    await Promise.all(files.slice(0, 300).map((file, index) => writeFile(file, `file ${index}\n`)));
    await writeFile(join(tree, 'medium'), Buffer.alloc(512 * 1024, 'm'));
    await writeFile(join(tree, 'big'), Buffer.alloc(9 * 1024 * 1024, 'b'));
    const atimes = await Promise.all(files.map(freshAtime));
    const layer = await createLayer(tree, join(dir, 'layer.tgz'), { sourceDateEpoch: 0 });
    assert.match(layer.diffId, /^sha256:[0-9a-f]{64}$/);
    const after = await Promise.all(files.map(async (file) => (await stat(file)).atimeMs));
    const changed = files.filter((_, index) => after[index] !== atimes[index]);
    assert.deepEqual(changed, [], 'archiving updated these atimes');
  });

  it('falls back to a plain open where O_NOATIME is refused (not the owner, no CAP_FOWNER)', async function () {
    if (process.getuid?.() !== 0) {
      console.log('      skipped: needs root to open files as another user');
      this.skip();
    }
    const file = join(dir, 'root-owned');
    await writeFile(file, 'content\n');
    await chmod(dir, 0o755);
    await chmod(file, 0o644);
    const module = fileURLToPath(new URL('./archive-open.js', import.meta.url));
    // As nobody: O_NOATIME on root's file is EPERM; the helper must still open it (and then read it).
    const script = `process.setgid(65534); process.setuid(65534);
      const { readFileSync, readSync, closeSync } = require('node:fs');
      import(${JSON.stringify(module)}).then(({ openArchivedSync }) => {
        const fd = openArchivedSync(${JSON.stringify(file)});
        const buffer = Buffer.alloc(64); const bytes = readSync(fd, buffer, 0, 64, 0); closeSync(fd);
        process.stdout.write(buffer.subarray(0, bytes));
      });`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(out, 'content\n');
  });
});
