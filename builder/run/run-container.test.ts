import { strict as assert } from 'node:assert';
import { chmod, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { makeTempDir, removeTempDir } from '../sandbox/test-rootfs.js';
import { Store } from '../store/store.js';
import { runContainer, type ContainerRecord } from './run-container.js';
import { makeBusyboxImage } from './test-image.js';

describe('run/run-container runContainer', function () {
  this.timeout(30000);
  let root: string;
  let out: string;
  before(async () => {
    root = await makeTempDir('run-test-');
    out = await makeTempDir('run-out-');
    await chmod(out, 0o777);
    const store = await Store.open(path.join(root, 'store'));
    await makeBusyboxImage(store, 'bb:latest', {
      Env: ['PATH=/bin', 'GREETING=hello'], Cmd: ['sh', '-c', 'exit 5'], WorkingDir: '/work',
    }, { passwd: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', group: 'root:x:0:\napp:x:1000:\n', hosts: '' });
  });
  after(async () => {
    await removeTempDir(root);
    await removeTempDir(out);
  });
  const base = () => ({ image: 'bb', root: path.join(root, 'store'), rm: true, volumes: [`${out}:/out`] });

  it('returns the exit code of the image Cmd', async () => {
    assert.equal(await runContainer(base()), 5);
  });

  it('applies cmd, -e (also from host env), -w and -u', async () => {
    process.env.H4_FROM_HOST = 'host-value';
    try {
      const code = await runContainer({
        ...base(), cmd: ['sh', '-c', 'echo "$GREETING $FOO $H4_FROM_HOST $(pwd) $(id -u):$(id -g) $HOSTNAME" > /out/result'],
        env: ['FOO=bar', 'H4_FROM_HOST'], workdir: '/tmp/w', user: 'app',
      });
      assert.equal(code, 0);
      const [greeting, foo, fromHost, cwd, ids, hostname] = (await readFile(path.join(out, 'result'), 'utf8')).trim().split(' ');
      assert.deepEqual([greeting, foo, fromHost, cwd, ids], ['hello', 'bar', 'host-value', '/tmp/w', '1000:1000']);
      assert.match(hostname!, /^[0-9a-f]{12}$/);
    } finally {
      delete process.env.H4_FROM_HOST;
    }
  });

  it('--entrypoint replaces the Entrypoint and clears Cmd; a missing command exits 127', async () => {
    assert.equal(await runContainer({ ...base(), entrypoint: 'true' }), 0);
    assert.equal(await runContainer({ ...base(), entrypoint: 'no-such-binary' }), 127);
  });

  it('--rm removes the container; without it the upperdir and record stay', async () => {
    const store = await Store.open(path.join(root, 'store'));
    const before = await readdir(store.containersDir);
    assert.equal(await runContainer({ ...base(), cmd: ['sh', '-c', 'echo kept > /kept.txt'] }), 0);
    assert.deepEqual(await readdir(store.containersDir), before);
    assert.equal(await runContainer({ ...base(), rm: false, name: 'keeper', cmd: ['sh', '-c', 'echo kept > /kept.txt; exit 3'] }), 3);
    // containers/ also holds .names/ and .locks/ now: count container directories only.
    const created = (await readdir(store.containersDir)).filter((id) => !before.includes(id) && /^[0-9a-f]{64}$/.test(id));
    assert.equal(created.length, 1);
    const record = JSON.parse(await readFile(path.join(store.containersDir, created[0]!, 'container.json'), 'utf8')) as ContainerRecord;
    assert.equal(record.exitCode, 3);
    assert.equal(record.name, 'keeper');
    assert.equal(await readFile(path.join(record.upperdir!, 'kept.txt'), 'utf8'), 'kept\n');
    await assert.rejects(runContainer({ ...base(), rm: false, name: 'keeper', cmd: ['true'] }), /already in use/);
  });

  it('gives the container /etc/hosts, /etc/hostname and /etc/resolv.conf even when the image has none (as docker)', async () => {
    const store = await Store.open(path.join(root, 'store'));
    await makeBusyboxImage(store, 'bare:latest', { Env: ['PATH=/bin'] }, { passwd: 'root:x:0:0:root:/root:/bin/sh\n' });
    const code = await runContainer({
      ...base(), image: 'bare', hostname: 'etc-test',
      cmd: ['sh', '-c', 'cat /etc/hostname > /out/etc; grep -c "localhost etc-test" /etc/hosts >> /out/etc; test -f /etc/resolv.conf && echo resolv >> /out/etc'],
    });
    assert.equal(code, 0);
    assert.equal(await readFile(path.join(out, 'etc'), 'utf8'), 'etc-test\n1\nresolv\n');
  });

  it('fails clearly for an unknown image or no command', async () => {
    await assert.rejects(runContainer({ ...base(), image: 'nope:1' }), (err: unknown) =>
      err instanceof BuildError && err.code === 'IMAGE_NOT_FOUND' && err.message === 'image "nope:1" not found: build, pull or load it first');
    await assert.rejects(runContainer({ ...base(), entrypoint: '' }), /no command specified/);
  });
});
