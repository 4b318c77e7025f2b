import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyInto, type CopyOptions } from '../context/copy.js';
import { listTree } from '../layer/tree-listing.js';
import { mountReadonly } from '../snapshot/mount.js';
import { sourceFromLayers } from './copy-from-layers.js';

const PAST = new Date('2001-02-03T04:05:06Z');

/**
 * A COPY --from that reads one snapshot directory instead of the mounted source must copy exactly what the mount
 * shows: each taken case copies both ways into empty destinations and compares the trees; each refused case is
 * one where a single layer is not the merged view (whiteouts, opaque directories, merges, symlinks on the way).
 */
describe('exec/copy-from-layers', function () {
  let dir: string;
  let lowers: string[];
  before(function () {
    if (process.getuid?.() !== 0) {
      console.log('    (skipped: overlay mounts, whiteouts and trusted.* xattrs need root)');
      this.skip();
    }
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'copy-from-layers-'));
    const base = join(dir, 'l0');
    const mid = join(dir, 'l1');
    const top = join(dir, 'l2');
    for (const layer of [base, mid, top]) await mkdir(layer);
    // base: /etc/passwd, /usr/lib/a.so, /merged/one, /gone, /hidden/x, /link -> usr, /opaque/old
    await mkdir(join(base, 'etc'));
    await writeFile(join(base, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    await mkdir(join(base, 'usr/lib'), { recursive: true });
    await writeFile(join(base, 'usr/lib/a.so'), 'elf');
    await chmod(join(base, 'usr/lib/a.so'), 0o755);
    await chown(join(base, 'usr/lib/a.so'), 1000, 1001);
    await utimes(join(base, 'usr/lib/a.so'), PAST, PAST);
    await mkdir(join(base, 'merged'));
    await writeFile(join(base, 'merged/one'), '1');
    await writeFile(join(base, 'gone'), 'deleted above');
    await mkdir(join(base, 'hidden'));
    await writeFile(join(base, 'hidden/x'), 'under a file above');
    await symlink('usr', join(base, 'link'));
    await mkdir(join(base, 'opaque'));
    await writeFile(join(base, 'opaque/old'), 'hidden by an opaque dir above');
    // mid: /usr (a directory on the way), /merged/two, a whiteout of /gone, /hidden as a file, /opaque (opaque)
    await mkdir(join(mid, 'usr'));
    await mkdir(join(mid, 'merged'));
    await writeFile(join(mid, 'merged/two'), '2');
    execFileSync('mknod', [join(mid, 'gone'), 'c', '0', '0']);
    await writeFile(join(mid, 'hidden'), 'a file');
    await mkdir(join(mid, 'opaque'));
    execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(mid, 'opaque')]);
    await writeFile(join(mid, 'opaque/new'), 'n');
    // top: /x, /app (a tree only this layer has), /withwh (a tree holding a whiteout)
    await writeFile(join(top, 'x'), 'one\n');
    await mkdir(join(top, 'app/sub'), { recursive: true });
    await writeFile(join(top, 'app/sub/f'), 'f');
    await symlink('sub/f', join(top, 'app/l'));
    await writeFile(join(top, 'app/h1'), 'h');
    execFileSync('ln', [join(top, 'app/h1'), join(top, 'app/h2')]);
    await chmod(join(top, 'app'), 0o750);
    await mkdir(join(top, 'withwh'));
    execFileSync('mknod', [join(top, 'withwh/w'), 'c', '0', '0']);
    lowers = [base, mid, top];
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const options = (sources: string[], dest: string, extra: Partial<CopyOptions> = {}): CopyOptions =>
    ({ sources, dest, add: false, exclude: [], parents: false, inline: [], ...extra });
  let outputs = 0;
  const freshDest = async (): Promise<string> => {
    const out = join(dir, `out-${outputs++}`);
    await mkdir(out);
    return out;
  };

  /** What the mounted path copies (the source stage's read-only overlay), listed. */
  async function viaMount(copy: CopyOptions): Promise<string[]> {
    await mkdir(join(dir, 'work'), { recursive: true });
    const mounted = await mountReadonly(join(dir, 'work'), lowers);
    try {
      const out = await freshDest();
      await copyInto({ root: mounted.merged, isContext: false }, out, copy);
      return listTree(out);
    } finally {
      await mounted.release();
    }
  }

  for (const [title, copy, layer] of [
    ['a file of the top layer', options(['/x'], '/one'), 2],
    ['a file below a layer that has its parent directory', options(['usr/lib/a.so'], '/lib/'), 0],
    ['two files of the same layer', options(['etc/passwd', 'usr/lib/a.so'], '/both/'), 0],
    ['a tree only one layer has (symlink and hardlinks inside)', options(['/app'], '/srv/app'), 2],
  ] as const) {
    it(`reads ${title} from that layer, as the mount shows it`, async () => {
      const source = await sourceFromLayers(lowers, copy);
      assert.deepEqual(source, { root: lowers[layer], isContext: false });
      const out = await freshDest();
      await copyInto(source, out, copy);
      assert.deepEqual(await listTree(out), await viaMount(copy));
    });
  }

  for (const [title, copy] of [
    ['a path a whiteout above deletes', options(['gone'], '/')],
    ['a path under a file above', options(['hidden/x'], '/')],
    ['a path under an opaque directory above', options(['opaque/old'], '/')],
    ['a directory merged from two layers', options(['merged'], '/')],
    ['a directory holding a whiteout', options(['withwh'], '/')],
    ['a path through a symlink', options(['link/lib/a.so'], '/')],
    ['a symlink itself', options(['link'], '/')],
    ['files of two layers', options(['x', 'etc/passwd'], '/')],
    ['a wildcard', options(['us*'], '/')],
    ['the root', options(['/'], '/')],
    ['a missing path (the mount reports it)', options(['nope'], '/')],
    ['--exclude', options(['app'], '/', { exclude: ['sub'] })],
  ] as const) {
    it(`leaves ${title} to the mount`, async () => {
      assert.equal(await sourceFromLayers(lowers, copy), undefined);
    });
  }
});
