/**
 * The docker CLI's commands that turn a container's filesystem into something else, against `builder daemon`:
 * diff, commit (with --change, -m, -a), history, export, import (plain and gzip, with --change), inspect --size and
 * ps -s, update (restart policy and the cgroup limits of a running container), pause/unpause, and docker's errors.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { runCommand } from './helpers/cli.js';
import { DOCKER_CLI, containerDaemonSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon-server.js';

describe('builder daemon: diff, commit, export, import, update through the docker CLI', function () {
  this.timeout(120_000);
  let daemon: TestDaemon;

  before(async function () {
    const reason = containerDaemonSkipReason();
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    daemon = await startTestDaemon('daemon-commit');
    const started = await daemon.docker(['run', '-d', '--name', 'src', 'busybox', 'sleep', '300']);
    assert.equal(started.code, 0, started.stderr);
    const changed = await daemon.docker(['exec', 'src', 'sh', '-c', 'echo hi > /tmp/x; rm /etc/group; mkdir -p /new/a; echo z > /new/a/f; echo more >> /etc/passwd']);
    assert.equal(changed.code, 0, changed.stderr);
  });
  after(async () => {
    if (!daemon) return;
    await daemon.docker(['rm', '-f', 'src', 'upd']);
    assert.equal(await daemon.stop(), 0);
  });

  it('diff lists what the container changed (not the hosts/hostname/resolv.conf builder made)', async () => {
    const diff = await daemon.docker(['diff', 'src']);
    assert.equal(diff.code, 0, diff.stderr);
    assert.equal(diff.stdout, ['C /etc', 'D /etc/group', 'C /etc/passwd', 'A /new', 'A /new/a', 'A /new/a/f', 'C /tmp', 'A /tmp/x', ''].join('\n'));
    const missing = await daemon.docker(['diff', 'nosuch']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such container: nosuch/);
  });

  it('inspect --size and ps -s report the bytes the container wrote', async () => {
    const sizes = await daemon.docker(['container', 'inspect', '--size', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'src']);
    const [rw, rootfs] = sizes.stdout.trim().split(' ').map(Number);
    // /tmp/x (3) + /new/a/f (2) + the grown /etc/passwd: a few hundred bytes; the image's ~1 MB on top.
    assert.ok(rw! > 5 && rw! < 4096, sizes.stdout);
    assert.ok(rootfs! > rw! + 500_000, sizes.stdout);
    assert.equal((await daemon.docker(['inspect', '-f', '{{.SizeRw}}', 'src'])).stdout.trim(), '<nil>');
    const ps = await daemon.docker(['ps', '-s', '--format', '{{.Names}} {{.Size}}']);
    assert.match(ps.stdout, new RegExp(`^src ${rw}B \\(virtual `, 'm'));
  });

  it('commit makes an image of the container with --change, -m and -a; history and run show it', async () => {
    const committed = await daemon.docker(['commit', '-c', 'CMD ["cat", "/tmp/x"]', '-c', 'ENV FOO=bar', '-m', 'my message', '-a', 'me', 'src', 'committed:1']);
    assert.equal(committed.code, 0, committed.stderr);
    assert.match(committed.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal((await daemon.docker(['inspect', '-f', '{{.Id}}', 'committed:1'])).stdout, committed.stdout);
    const ran = await daemon.docker(['run', '--rm', 'committed:1']);
    assert.equal(ran.stdout, 'hi\n', ran.stderr);
    const inside = await daemon.docker(['run', '--rm', 'committed:1', 'sh', '-c', 'echo $FOO; test -e /etc/group || echo gone; cat /new/a/f; tail -n 1 /etc/passwd']);
    assert.equal(inside.stdout, 'bar\ngone\nz\nmore\n', inside.stderr);
    const fields = await daemon.docker(['image', 'inspect', '-f', '{{json .Config.Cmd}} {{.Author}} {{.Comment}} {{len .RootFS.Layers}}', 'committed:1']);
    assert.equal(fields.stdout, '["cat","/tmp/x"] me my message 2\n');
    const history = await daemon.docker(['history', '--format', '{{.CreatedBy}}|{{.Comment}}', 'committed:1']);
    assert.equal(history.stdout.split('\n')[0], 'sleep 300|my message');
    // The running container was paused for the commit and runs on.
    assert.equal((await daemon.docker(['inspect', '-f', '{{.State.Status}}', 'src'])).stdout, 'running\n');
    const bad = await daemon.docker(['commit', '-c', 'RUN true', 'src', 'bad:1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /RUN is not a valid change command/);
    const missing = await daemon.docker(['commit', 'nosuch', 'x:1']);
    assert.match(missing.stderr, /No such container: nosuch/);
  });

  it('export writes the whole filesystem; import makes a one-layer image of it (plain and gzip)', async () => {
    const tarFile = path.join(daemon.dir, 'src.tar');
    const exported = await daemon.docker(['export', '-o', tarFile, 'src']);
    assert.equal(exported.code, 0, exported.stderr);
    const list = await runCommand('tar', ['-tf', tarFile]);
    const names = list.stdout.split('\n');
    assert.ok(names.includes('bin/busybox') && names.includes('tmp/x') && names.includes('new/a/f'), list.stdout.slice(0, 400));
    assert.ok(!names.includes('etc/group') && !names.some((n) => n.startsWith('./')), 'deleted files are gone and names have no ./');
    const imported = await daemon.docker(['import', '-c', 'CMD ["/bin/busybox", "cat", "/tmp/x"]', '-m', 'from a tar', tarFile, 'imported:1']);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal((await daemon.docker(['run', '--rm', 'imported:1'])).stdout, 'hi\n');
    const history = await daemon.docker(['history', '--format', '{{.Comment}}', 'imported:1']);
    assert.equal(history.stdout, 'from a tar\n');
    const gz = path.join(daemon.dir, 'src.tar.gz');
    await writeFile(gz, gzipSync(await readFile(tarFile)));
    const fromStdin = await runCommand('sh', ['-c', `"$0" import - imported:gz < "$1"`, DOCKER_CLI, gz], { env: daemon.env });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal((await daemon.docker(['run', '--rm', 'imported:gz', '/bin/busybox', 'cat', '/new/a/f'])).stdout, 'z\n');
    const junk = path.join(daemon.dir, 'junk.tar');
    await writeFile(junk, 'not a tar at all\n'.repeat(100));
    const bad = await daemon.docker(['import', junk, 'junk:1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a tar archive/);
    assert.equal((await daemon.docker(['image', 'inspect', 'junk:1'])).code, 1);
  });

  it('update changes the restart policy and the limits of a running container; refuses what it cannot apply', async () => {
    assert.equal((await daemon.docker(['run', '-d', '--name', 'upd', 'busybox', 'sleep', '300'])).code, 0);
    const updated = await daemon.docker(['update', '--restart', 'on-failure:3', '--memory', '64m', '--cpus', '0.5', '--pids-limit', '100', 'upd']);
    assert.equal(updated.code, 0, updated.stderr);
    assert.equal(updated.stdout, 'upd\n');
    const shown = await daemon.docker(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}', 'upd']);
    assert.equal(shown.stdout, 'on-failure:3 67108864 500000000 100\n');
    // The running container's cgroup got the limits (runc's cgroup v1 dirs under builder/<runtime id>).
    const id = (await daemon.docker(['inspect', '-f', '{{.Id}}', 'upd'])).stdout.trim();
    const { runtimeId } = JSON.parse(await readFile(path.join(daemon.root, 'containers', id, 'state.json'), 'utf8')) as { runtimeId: string };
    const memory = `/sys/fs/cgroup/memory/builder/${runtimeId}/memory.limit_in_bytes`;
    if (existsSync(memory)) {
      assert.equal((await readFile(memory, 'utf8')).trim(), '67108864');
      assert.equal((await readFile(`/sys/fs/cgroup/pids/builder/${runtimeId}/pids.max`, 'utf8')).trim(), '100');
      assert.equal((await readFile(`/sys/fs/cgroup/cpu/builder/${runtimeId}/cpu.cfs_quota_us`, 'utf8')).trim(), '50000');
    } else {
      console.log(`    (cgroup values not checked: no cgroup v1 memory dir ${memory})`);
    }
    const unsupported = await daemon.docker(['update', '--kernel-memory', '10m', 'upd']);
    assert.equal(unsupported.code, 1);
    assert.match(unsupported.stderr, /KernelMemory is not supported/);
    const missing = await daemon.docker(['update', '--memory', '64m', 'nosuch']);
    assert.match(missing.stderr, /No such container: nosuch/);
  });

  it('pause and unpause freeze the container; exec and a second pause are refused meanwhile', async () => {
    assert.equal((await daemon.docker(['pause', 'upd'])).code, 0);
    assert.match((await daemon.docker(['ps', '--filter', 'name=upd', '--format', '{{.Status}}'])).stdout, /\(Paused\)/);
    assert.match((await daemon.docker(['exec', 'upd', 'true'])).stderr, /is paused/);
    assert.equal((await daemon.docker(['pause', 'upd'])).code, 1);
    assert.equal((await daemon.docker(['unpause', 'upd'])).code, 0);
    assert.equal((await daemon.docker(['exec', 'upd', 'echo', 'back'])).stdout, 'back\n');
    assert.match((await daemon.docker(['unpause', 'upd'])).stderr, /is not paused/);
  });

  it('run --rm whose start fails (unknown user) ends with docker\'s error and leaves no container', async () => {
    const before = (await daemon.docker(['ps', '-aq'])).stdout;
    const failed = await daemon.docker(['run', '--rm', '--user', 'nosuchuser', 'busybox', 'id'], { timeoutMs: 30_000 });
    assert.equal(failed.code, 125, failed.stderr);
    assert.match(failed.stderr, /unable to find user nosuchuser/);
    assert.equal((await daemon.docker(['ps', '-aq'])).stdout, before);
  });

  it('ps -n/-l include every state; before= and since= filter by creation', async () => {
    await daemon.docker(['rm', '-f', 'src', 'upd']);
    for (const [name, cmd] of [['f1', 'sleep 100'], ['f2', 'true'], ['f3', 'sleep 100']] as const) {
      assert.equal((await daemon.docker(['run', '-d', '--name', name, 'busybox', ...cmd.split(' ')])).code, 0);
    }
    await daemon.docker(['wait', 'f2']);
    assert.equal((await daemon.docker(['ps', '-n', '2', '--format', '{{.Names}}'])).stdout, 'f3\nf2\n');
    assert.equal((await daemon.docker(['ps', '-l', '--format', '{{.Names}}'])).stdout, 'f3\n');
    assert.equal((await daemon.docker(['ps', '-a', '--filter', 'before=f3', '--filter', 'since=f1', '--format', '{{.Names}}'])).stdout, 'f2\n');
    assert.equal((await daemon.docker(['ps', '--filter', 'since=f1', '--format', '{{.Names}}'])).stdout, 'f3\n');
    assert.match((await daemon.docker(['ps', '--filter', 'since=nosuch'])).stderr, /No such container: nosuch/);
    await daemon.docker(['rm', '-f', 'f1', 'f2', 'f3']);
  });
});
