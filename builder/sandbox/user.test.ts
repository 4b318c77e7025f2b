import { strict as assert } from 'node:assert';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { makeTempDir, removeTempDir } from './test-rootfs.js';
import { resolveChown, resolveUser } from './user.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nstaff:x:50:app\napp:x:1001:\nwheel:x:10:root,app\n';

describe('sandbox/user resolveUser', () => {
  let rootfs: string;
  let empty: string;
  before(async () => {
    rootfs = await makeTempDir('user-test-');
    await mkdir(path.join(rootfs, 'etc'));
    await writeFile(path.join(rootfs, 'etc/passwd'), PASSWD);
    await writeFile(path.join(rootfs, 'etc/group'), GROUP);
    empty = await makeTempDir('user-empty-');
  });
  after(async () => {
    await removeTempDir(rootfs);
    await removeTempDir(empty);
  });

  const cases: [string, { uid: number; gid: number; additionalGids: number[]; home: string }][] = [
    ['', { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' }],
    ['root', { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' }],
    ['app', { uid: 1000, gid: 1001, additionalGids: [1001, 50, 10], home: '/home/app' }],
    ['1000', { uid: 1000, gid: 1001, additionalGids: [1001, 50, 10], home: '/home/app' }],
    ['app:staff', { uid: 1000, gid: 50, additionalGids: [50], home: '/home/app' }],
    ['1000:1000', { uid: 1000, gid: 1000, additionalGids: [1000], home: '/home/app' }],
    ['2000', { uid: 2000, gid: 0, additionalGids: [0], home: '/' }],
    ['2000:staff', { uid: 2000, gid: 50, additionalGids: [50], home: '/' }],
    ['2000:3000', { uid: 2000, gid: 3000, additionalGids: [3000], home: '/' }],
  ];
  for (const [user, expected] of cases) {
    it(`resolves "${user}"`, async () => {
      assert.deepEqual(await resolveUser(rootfs, user), expected);
    });
  }

  it('accepts numeric ids without passwd or group files', async () => {
    assert.deepEqual(await resolveUser(empty, '1000:1000'), { uid: 1000, gid: 1000, additionalGids: [1000], home: '/' });
    assert.deepEqual(await resolveUser(empty, ''), { uid: 0, gid: 0, additionalGids: [0], home: '/' });
  });

  it('rejects unknown names like docker', async () => {
    await assert.rejects(resolveUser(rootfs, 'ghost'), (err: unknown) =>
      err instanceof BuildError && err.code === 'INVALID_ARGUMENT' &&
      err.message === 'unable to find user ghost: no matching entries in passwd file');
    await assert.rejects(resolveUser(empty, 'app'), /unable to find user app: no matching entries in passwd file/);
    await assert.rejects(resolveUser(rootfs, 'app:ghosts'), /unable to find group ghosts: no matching entries in group file/);
  });

  it('resolves --chown as BuildKit: unknown names are 0 (user) or keep the gid (group), a bare uid is also the gid, a name needs the file', async () => {
    const table: [string, { uid: number; gid: number }][] = [
      ['app', { uid: 1000, gid: 1001 }], ['1000', { uid: 1000, gid: 1000 }], ['app:staff', { uid: 1000, gid: 50 }],
      ['nosuch', { uid: 0, gid: 0 }], ['nosuch:staff', { uid: 0, gid: 50 }], ['app:nosuch', { uid: 1000, gid: 1001 }],
      [':staff', { uid: 0, gid: 50 }], ['12:34', { uid: 12, gid: 34 }],
    ];
    for (const [chown, owner] of table) assert.deepEqual(await resolveChown(rootfs, chown), owner, chown);
    // No /etc/passwd (or /etc/group) at all: a name cannot be resolved and BuildKit's readUser fails on the open;
    // numeric ids need no file.
    await assert.rejects(resolveChown(empty, 'app'), /open \/etc\/passwd: no such file or directory/);
    await assert.rejects(resolveChown(empty, '1:staff'), /open \/etc\/group: no such file or directory/);
    assert.deepEqual(await resolveChown(empty, '12:34'), { uid: 12, gid: 34 });
  });

  it('never follows /etc/passwd out of the rootfs', async () => {
    const jail = await makeTempDir('user-jail-');
    try {
      await mkdir(path.join(jail, 'etc'));
      // On the host this would be the real /etc/passwd, which has root; inside the jail it is missing.
      await symlink('/../../../../etc/passwd', path.join(jail, 'etc/passwd'));
      await assert.rejects(resolveUser(jail, 'root'), /no matching entries in passwd file/);
    } finally {
      await removeTempDir(jail);
    }
  });
});
