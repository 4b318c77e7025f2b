import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile, chown } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, removeTempDir } from '../../test/helpers/temp-root.js';
import { BuildError } from '../errors.js';
import { createVolume, inspectVolume, listVolumes, openVolumes, pruneVolumes, removeVolume, volumeUsage } from './index.js';

const id = (): string => randomBytes(32).toString('hex');

describe('volumes (local driver)', () => {
  let root = '';
  let rootfs = '';
  beforeEach(async () => {
    root = await makeTempDir('builder-vol');
    rootfs = path.join(root, 'rootfs');
    await mkdir(path.join(rootfs, 'srv/data/sub'), { recursive: true });
    await writeFile(path.join(rootfs, 'srv/data/seed.txt'), 'from the image\n', { mode: 0o640 });
    await symlink('seed.txt', path.join(rootfs, 'srv/data/link'));
    await symlink('/etc', path.join(rootfs, 'escape'));
  });
  afterEach(() => removeTempDir(root));

  /** The container record the containers side keeps; a volume user without one is stale. */
  const container = async (): Promise<string> => {
    const containerId = id();
    await mkdir(path.join(root, 'containers', containerId), { recursive: true });
    return containerId;
  };

  it('a named volume is created on first use and keeps data across containers', async () => {
    const volumes = openVolumes(root);
    const first = await container();
    const [mount] = await volumes.prepare(first, [{ type: 'volume', source: 'appdata', target: '/var/lib/app', readonly: false }], rootfs);
    assert.equal(mount!.volumeName, 'appdata');
    await writeFile(path.join(mount!.source, 'state'), 'kept\n');
    await volumes.release(first, { removeAnonymous: true });
    const second = await container();
    const [again] = await volumes.prepare(second, [{ type: 'volume', source: 'appdata', target: '/other', readonly: true }], rootfs);
    assert.equal(await readFile(path.join(again!.source, 'state'), 'utf8'), 'kept\n');
    assert.equal(again!.readonly, true);
    const inspected = await inspectVolume(root, 'appdata');
    assert.equal(inspected.Mountpoint, mount!.source);
    assert.equal(inspected.Driver, 'local');
  });

  it('copies the image files into a new empty volume (owners, modes, symlinks), not with nocopy', async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: chown needs root'); this.skip(); }
    await chown(path.join(rootfs, 'srv/data/seed.txt'), 1234, 5678);
    const volumes = openVolumes(root);
    const [mount] = await volumes.prepare(await container(), [{ type: 'volume', source: 'seeded', target: '/srv/data', readonly: false }], rootfs);
    const seed = await stat(path.join(mount!.source, 'seed.txt'));
    assert.equal(await readFile(path.join(mount!.source, 'seed.txt'), 'utf8'), 'from the image\n');
    assert.equal(seed.mode & 0o777, 0o640);
    assert.equal(seed.uid, 1234);
    assert.equal(seed.gid, 5678);
    assert.equal(await readlink(path.join(mount!.source, 'link')), 'seed.txt');
    assert.ok((await lstat(path.join(mount!.source, 'sub'))).isDirectory());
    const [plain] = await volumes.prepare(await container(), [{ type: 'volume', source: 'bare', target: '/srv/data', readonly: false, nocopy: true }], rootfs);
    assert.deepEqual(await (await import('node:fs/promises')).readdir(plain!.source), []);
  });

  it('a symlink in the image is resolved inside the rootfs, never to host files', async () => {
    const [mount] = await openVolumes(root).prepare(await container(), [{ type: 'volume', source: 'esc', target: '/escape', readonly: false }], rootfs);
    // /escape → /etc inside the rootfs, which does not exist there: nothing to copy.
    assert.deepEqual(await (await import('node:fs/promises')).readdir(mount!.source), []);
  });

  it('a volume in use cannot be removed; rm -v removes anonymous volumes; prune spares named ones unless --all', async () => {
    const volumes = openVolumes(root);
    const user = await container();
    const mounts = await volumes.prepare(user, [
      { type: 'volume', source: 'busy', target: '/busy', readonly: false },
      { type: 'volume', target: '/srv/data', readonly: false },
    ], rootfs);
    const anonymous = mounts.find((m) => m.anonymous)!.volumeName!;
    assert.match(anonymous, /^[0-9a-f]{64}$/);
    await assert.rejects(removeVolume(root, 'busy'), (err: unknown) => err instanceof BuildError && err.code === 'CONFLICT' && err.message === `remove busy: volume is in use - [${user}]`);
    assert.equal((await volumeUsage(root)).active, 2);
    await volumes.release(user, { removeAnonymous: true });
    assert.deepEqual((await listVolumes(root)).Volumes.map((v) => v.Name), ['busy']);
    await createVolume(root, { name: 'spare', labels: { team: 'a' } });
    assert.deepEqual((await pruneVolumes(root)).VolumesDeleted, []);
    assert.deepEqual((await pruneVolumes(root, { all: true, filters: { label: ['team=a'] } })).VolumesDeleted, ['spare']);
    await removeVolume(root, 'busy');
    await assert.rejects(inspectVolume(root, 'busy'), (err: unknown) => err instanceof BuildError && err.code === 'VOLUME_NOT_FOUND' && err.message === 'get busy: no such volume');
  });

  it('explicit mounts win over the image VOLUME on the same path; a failed prepare leaves nothing behind', async () => {
    const volumes = openVolumes(root);
    const user = await container();
    const mounts = await volumes.prepare(user, [
      { type: 'volume', target: '/srv/data', readonly: false },
      { type: 'volume', source: 'explicit', target: '/srv/data', readonly: false },
    ], rootfs);
    assert.deepEqual(mounts.map((m) => m.volumeName), ['explicit']);
    await assert.rejects(
      volumes.prepare(await container(), [
        { type: 'volume', source: 'one', target: '/same', readonly: false },
        { type: 'tmpfs', target: '/same', readonly: false },
      ], rootfs),
      (err: unknown) => err instanceof BuildError && err.message === 'Duplicate mount point: /same',
    );
    await assert.rejects(
      volumes.prepare(await container(), [
        { type: 'volume', source: 'halfway', target: '/a', readonly: false },
        { type: 'bind', source: path.join(root, 'missing'), target: '/b', readonly: false },
      ], rootfs),
      /bind source path does not exist/,
    );
    assert.deepEqual((await listVolumes(root)).Volumes.map((v) => v.Name), ['explicit']);
  });
});
