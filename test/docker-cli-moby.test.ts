/**
 * Scenarios of moby's integration-cli (docker_cli_run/exec/cp/logs/top/rename/network/save_load tests) with the
 * docker CLI 28 against `builder daemon`: only busybox and loopback. Each expectation is what moby's test asserts,
 * or what Debian's dockerd 20.10 printed for the same command where moby ≥ 25 says the same (docs/ARCHITECTURE.md
 * "moby's CLI scenarios"). Never a missing image in a create: the CLI pulls on a 404 there.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCommand } from './helpers/cli.js';
import { containerDaemonSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon-server.js';

describe('builder daemon: moby integration-cli scenarios (run flags, exec, top, logs, rename, networks, volumes, save)', function () {
  this.timeout(180_000);
  let daemon: TestDaemon;

  const ok = async (args: string[]): Promise<string> => {
    const result = await daemon.docker(args);
    assert.equal(result.code, 0, `docker ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const fails = async (args: string[], code: number, message: RegExp): Promise<void> => {
    const result = await daemon.docker(args);
    assert.equal(result.code, code, `docker ${args.join(' ')}: exit ${result.code}, ${result.stderr}`);
    assert.match(result.stderr, message, `docker ${args.join(' ')}`);
  };

  before(async function () {
    const reason = containerDaemonSkipReason();
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    daemon = await startTestDaemon('docker-cli-moby');
  });
  after(async () => {
    if (!daemon) return;
    await daemon.docker(['rm', '-f', '-v', 'long', 'ren', 'ren2', 'anon', 'data', 'cold']);
    await daemon.docker(['volume', 'rm', 'moby-named']);
    assert.equal(await daemon.stop(), 0);
  });

  it('run applies --ulimit, --shm-size, --device, --dns-option; -e NAME unset in the client is not passed', async () => {
    const script = [
      'ulimit -n; ulimit -Hn', 'mount | grep " /dev/shm "', 'ls /dev/nulo', 'head -c 4 /dev/nulo | wc -c',
      'cat /etc/resolv.conf', 'env | grep -c MOBY_NOTSET; echo "set=$MOBY_SET"', 'grep gw /etc/hosts',
    ].join('; ');
    const out = await ok([
      'run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:2048', '--shm-size', '1m', '--device', '/dev/zero:/dev/nulo',
      '--dns', '127.0.0.9', '--dns-option', 'ndots:2', '--add-host', 'gw:host-gateway', '-e', 'MOBY_NOTSET', '-e', 'MOBY_SET=1', 'busybox', 'sh', '-c', script,
    ]);
    const lines = out.split('\n');
    assert.deepEqual(lines.slice(0, 2), ['1024', '2048'], out);
    // TestRunWithShmSize: `shm on /dev/shm type tmpfs (…size=1024k)`.
    assert.match(out, /shm on \/dev\/shm type tmpfs .*size=1024k/);
    // TestRunAddingOptionalDevices.
    assert.match(out, /^\/dev\/nulo\n4\n/m);
    assert.match(out, /nameserver 127\.0\.0\.9\noptions ndots:2\n/);
    // moby's ReplaceOrAppendEnvValues: a bare NAME (the CLI sends it when the client has no NAME) unsets.
    assert.match(out, /^0\nset=1$/m);
    // moby's host-gateway: the default bridge's gateway address (it was written as the word).
    const gateway = (await ok(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', 'bridge'])).trim();
    assert.match(gateway, /^\d+\.\d+\.\d+\.\d+$/);
    assert.match(out, new RegExp(`^${gateway.replace(/\./g, '\\.')}\tgw$`, 'm'));
    await ok(['create', '--name', 'cold', '--network', 'none', '--shm-size', '1g', 'busybox', 'true']);
    const fields = '{{.HostConfig.ShmSize}} {{.HostConfig.LogConfig.Type}} {{json .Config.Entrypoint}} {{.HostConfig.IpcMode}} {{.HostConfig.Runtime}}';
    assert.equal((await ok(['inspect', '-f', fields, 'cold'])).trim(), '1073741824 json-file null private runc');
  });

  it('create refuses what moby refuses, in its words (125), and warns about --oom-kill-disable without -m', async () => {
    const cpus = os.cpus().length;
    const cases: [string[], RegExp][] = [
      [['--memory', '10m', '--memory-swap', '5m'], /Minimum memoryswap limit should be larger than memory limit, see usage/],
      [['--memory', '10m', '--memory-reservation', '20m'], /Minimum memory limit can not be less than memory reservation limit, see usage/],
      [['--cpus', String(cpus + 1)], new RegExp(`range of CPUs is from 0\\.01 to ${cpus}\\.00, as there are only ${cpus} CPUs available`)],
      [['--cap-add', 'NOSUCH'], /invalid CapAdd: unknown capability: "CAP_NOSUCH"/],
      [['--cap-drop', 'NOSUCH'], /invalid CapDrop: unknown capability: "CAP_NOSUCH"/],
      [['--volumes-from', 'no-such-container'], /Error response from daemon: No such container: no-such-container/],
    ];
    for (const [args, message] of cases) await fails(['run', '--rm', '--network', 'none', ...args, 'busybox', 'true'], 125, message);
    const warned = await daemon.docker(['create', '--network', 'none', '--oom-kill-disable', 'busybox', 'true']);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /WARNING: OOM killer is disabled for the container, but no memory limit is set/);
    await ok(['rm', warned.stdout.trim()]);
    // TestRunWithBadDevice and a missing device: refused at start (127 for "no such file", as the CLI maps it).
    await fails(['run', '--rm', '--network', 'none', '--device', '/etc', 'busybox', 'true'], 125,
      /error gathering device information while adding custom device "\/etc": not a device node/);
    await fails(['run', '--rm', '--network', 'none', '--device', '/dev/no-such-device', 'busybox', 'true'], 127,
      /error gathering device information while adding custom device "\/dev\/no-such-device": no such file or directory/);
  });

  it('exec -u of an unknown user exits 126; top refuses bad ps args; logs --details and a non-numeric --tail', async () => {
    await ok(['run', '-d', '--name', 'long', '--network', 'none', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exec sleep 300']);
    // moby's exec default exit code when the process never started.
    await fails(['exec', '-u', 'nosuchuser', 'long', 'true'], 126, /unable to find user nosuchuser: no matching entries in passwd file/);
    await fails(['top', 'long', 'bad-arg-xx'], 1, /Error response from daemon: ps: error: unsupported option \(BSD syntax\)/);
    await fails(['top', 'long', '-o', 'user=PID'], 1, /specifying "user=PID" is not allowed/);
    assert.match(await ok(['top', 'long', '-o', 'pid,comm']), /^PID\s+COMMAND\n\d+\s+sleep\n$/);
    // Wait for both lines in the log (the container writes them right after starting).
    for (let i = 0; i < 100 && !(await daemon.docker(['logs', 'long'])).stderr.includes('err'); i++) await new Promise((r) => setTimeout(r, 50));
    const details = await daemon.docker(['logs', '--details', 'long']);
    assert.deepEqual([details.stdout, details.stderr], [' out\n', ' err\n']);
    // dockerd's strconv.Atoi: a tail that is not a number is every line.
    const all = await daemon.docker(['logs', '--tail', 'abc', 'long']);
    assert.deepEqual([all.code, all.stdout, all.stderr], [0, 'out\n', 'err\n']);
  });

  it('events: create, attach, start, die, destroy of a `run --rm`, in dockerd\'s order', async () => {
    const since = new Date().toISOString();
    await ok(['run', '--rm', '--name', 'moby-ev', '--network', 'none', 'busybox', 'true']);
    const until = new Date(Date.now() + 1000).toISOString();
    const actions = await ok(['events', '--since', since, '--until', until, '--filter', 'container=moby-ev', '--format', '{{.Action}}']);
    assert.equal(actions, 'create\nattach\nstart\ndie\ndestroy\n');
  });

  it('rename: moby\'s order and "Error when allocating new name"; tag of a missing image names its :latest', async () => {
    await ok(['create', '--name', 'ren', '--network', 'none', 'busybox', 'true']);
    await ok(['create', '--name', 'ren2', '--network', 'none', 'busybox', 'true']);
    await fails(['rename', 'ren', 'ren2'], 1, /Error response from daemon: Error when allocating new name: Conflict\. The container name "\/ren2" is already in use/);
    await fails(['rename', 'ren', 'bad name'], 1,
      /Error when allocating new name: Invalid container name \(\/bad name\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_\.-\] are allowed/);
    await fails(['rename', 'no-such-ren', 'bad name'], 1, /No such container: no-such-ren/);
    await fails(['create', '--name', 'bad name', 'busybox'], 1, /Invalid container name \(bad name\)/);
    await fails(['tag', 'no-such-image', 'moby-tag:1'], 1, /Error response from daemon: No such image: no-such-image:latest/);
    // rmi of the last name of an image a container uses: moby's "repository reference" conflict; by id the other one.
    await ok(['tag', 'busybox', 'moby-rmi:1']);
    await ok(['create', '--name', 'rmi-user', '--network', 'none', 'moby-rmi:1', 'true']);
    const id = (await ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim().slice(7, 19);
    assert.equal(await ok(['rmi', 'busybox']), 'Untagged: busybox:latest\n', 'another name is left: only untagged');
    await fails(['rmi', 'moby-rmi:1'], 1,
      new RegExp(`conflict: unable to remove repository reference "moby-rmi:1" \\(must force\\) - container [0-9a-f]{12} is using its referenced image ${id}`));
    await fails(['rmi', id], 1, new RegExp(`conflict: unable to delete ${id} \\(must be forced\\) - image is being used by stopped container [0-9a-f]{12}`));
    await ok(['tag', 'moby-rmi:1', 'busybox']);
    await ok(['rm', 'rmi-user']);
    await ok(['rmi', 'moby-rmi:1']);
  });

  it('the predefined host and none networks are listed, inspected, and cannot be removed or joined', async () => {
    const ls = (await ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}'])).split('\n');
    assert.ok(ls.includes('host host local') && ls.includes('none null local') && ls.includes('bridge bridge local'), ls.join('\n'));
    const none = (await ok(['network', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Id}}', 'none'])).trim().split(' ');
    assert.deepEqual(none.slice(0, 2), ['none', 'null']);
    assert.equal((await ok(['network', 'inspect', '-f', '{{.Name}}', none[2]!.slice(0, 12)])).trim(), 'none');
    assert.equal((await ok(['network', 'ls', '-q', '--filter', 'driver=null'])).trim(), none[2]!.slice(0, 12));
    for (const name of ['none', 'host']) await fails(['network', 'rm', name], 1, new RegExp(`${name} is a pre-defined network and cannot be removed`));
    await fails(['network', 'connect', 'none', 'long'], 1, /container cannot be disconnected from none network or connected to none network/);
  });

  it('volumes: made at create (cp into one), the same anonymous volume on every start, --volumes-from with :ro', async () => {
    const before = (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).length;
    await ok(['create', '--name', 'anon', '--network', 'none', '-v', '/data', 'busybox', 'sh', '-c', 'ls /data; touch /data/started']);
    // docker_cli_cp_to_container: a never-started container's volume takes the copy.
    const source = path.join(daemon.dir, 'cp-src');
    await writeFile(source, 'copied\n');
    await ok(['cp', source, 'anon:/data/']);
    assert.equal(await ok(['start', '-a', 'anon']), 'cp-src\n');
    // `start -a` of an exited container: this run's lines only (it printed nothing: the attach did not wait for the start).
    assert.equal(await ok(['start', '-a', 'anon']), 'cp-src\nstarted\n', 'the second start sees the first one\'s file');
    assert.equal((await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).length, before + 1);
    await ok(['create', '--name', 'data', '--network', 'none', '-v', 'moby-named:/named', 'busybox', 'true']);
    const shared = await ok(['run', '--rm', '--network', 'none', '--volumes-from', 'anon', '--volumes-from', 'data', 'busybox',
      'sh', '-c', 'cat /data/cp-src; echo x > /named/x && cat /named/x']);
    assert.equal(shared, 'copied\nx\n');
    await fails(['run', '--rm', '--network', 'none', '--volumes-from', 'anon:ro', 'busybox', 'touch', '/data/y'], 1, /Read-only file system/);
    // A mount of its own wins over the one --volumes-from brings to the same target.
    const ownDir = path.join(daemon.dir, 'own');
    await mkdir(ownDir);
    await writeFile(path.join(ownDir, 'mine'), '');
    assert.equal(await ok(['run', '--rm', '--network', 'none', '--volumes-from', 'anon', '-v', `${ownDir}:/data`, 'busybox', 'ls', '/data']), 'mine\n');
  });

  it('save of two tags has moby\'s repositories file and loads back both tags', async () => {
    await ok(['tag', 'busybox', 'moby-save:a']);
    await ok(['tag', 'busybox', 'moby-save:b']);
    const archive = path.join(daemon.dir, 'save.tar');
    await ok(['save', '-o', archive, 'moby-save:a', 'moby-save:b']);
    const listed = await runCommand('tar', ['-tf', archive]);
    assert.ok(listed.stdout.split('\n').includes('repositories'), listed.stdout);
    const repositories = JSON.parse((await runCommand('tar', ['-xOf', archive, 'repositories'])).stdout) as Record<string, Record<string, string>>;
    assert.deepEqual(Object.keys(repositories['moby-save'] ?? {}).sort(), ['a', 'b']);
    assert.match(repositories['moby-save']!.a!, /^[0-9a-f]{64}$/);
    assert.ok(listed.stdout.includes(`blobs/sha256/${repositories['moby-save']!.a}`), 'the top layer is a blob of the archive');
    await ok(['rmi', 'moby-save:a', 'moby-save:b']);
    assert.equal(await ok(['load', '-i', archive]), 'Loaded image: moby-save:a\nLoaded image: moby-save:b\n');
    assert.deepEqual((await ok(['images', 'moby-save', '--format', '{{.Tag}}'])).trim().split('\n').sort(), ['a', 'b']);
  });
});
