/**
 * Containers as docker has them, end to end through the real CLI, runc and conmon, with an image built by builder:
 * detached runs, logs, stop/start/restart, pause (freezer), wait, exec, cp both ways (symlink attacks included),
 * restart policies, healthchecks, the truth after the monitor is SIGKILLed, and bad input leaving nothing behind.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { fetchPage, freePort } from './helpers/http-probe.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('containers (CLI, runc, conmon)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { root });
  const ok = async (args: string[]): Promise<string> => expectSuccess(await cli(args), args.join(' ')).stdout;
  const status = async (name: string): Promise<string> => (await ok(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Status}}'])).trim();
  const inspect = async (name: string): Promise<Record<string, any>> => (JSON.parse(await ok(['inspect', name])) as Record<string, any>[])[0]!;
  const containerDirs = async (): Promise<string[]> => (await readdir(path.join(root, 'containers')).catch(() => [] as string[])).filter((d) => /^[0-9a-f]{64}$/.test(d));
  const until = async (what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };

  before(async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: needs root for runc'); this.skip(); }
    if (!existsSync('/usr/bin/conmon')) { console.log('    skipped: conmon missing (apt-get install conmon)'); this.skip(); }
    scratch = await makeTempDir('containers-scratch-');
    root = await makeFixtureRoot('containers-root-', scratch);
    const context = path.join(scratch, 'web');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), [
      'FROM busybox', 'RUN mkdir -p /www && echo "hello from web" > /www/index.html', 'EXPOSE 80',
      'CMD ["httpd", "-f", "-v", "-p", "80", "-h", "/www"]', '',
    ].join('\n'));
    await ok(['build', '-q', '-t', 'web', context]);
  });
  after(async () => {
    if (!root) return;
    for (const line of (await cli(['ps', '-aq'])).stdout.split('\n').filter(Boolean)) await cli(['rm', '-f', line]);
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  it('run -d, logs, ps, stop → Exited (137), start, restart, wait, rm', async () => {
    const id = (await ok(['run', '-d', '--name', 'life', '--stop-timeout', '1', 'busybox', 'sh', '-c', 'echo started; echo oops >&2; exec sleep 1000'])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(await status('life'), /^Up /);
    await until('log lines', async () => (await cli(['logs', 'life'])).stdout === 'started\n');
    const logs = await cli(['logs', '-t', '--tail', '1', 'life']);
    assert.match(logs.stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z oops\n$/);
    const table = await ok(['ps']);
    assert.match(table, /^CONTAINER ID {3}IMAGE {5}COMMAND {18}CREATED +STATUS +PORTS +NAMES\n/);
    assert.match(table, new RegExp(`^${id.slice(0, 12)} {3}busybox {3}"sh -c echo started;…" .* Up .* life\\n`, 'm'));
    await ok(['stop', 'life']);
    assert.match(await status('life'), /^Exited \(137\) /);
    assert.equal((await ok(['wait', 'life'])).trim(), '137');
    await ok(['start', 'life']);
    assert.match(await status('life'), /^Up /);
    const firstStart = (await inspect('life')).State.StartedAt as string;
    await ok(['restart', '-t', '0', 'life']);
    const state = (await inspect('life')).State;
    assert.equal(state.Status, 'running');
    assert.ok(state.StartedAt > firstStart);
    const rm = await cli(['rm', 'life']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /cannot remove container "\/life": container is running: stop the container before removing or force remove/);
    await ok(['rm', '-f', 'life']);
    assert.equal(await status('life'), '');
    assert.equal((await cli(['logs', 'life'])).code, 1);
  });

  it('stop sends the stop signal first: a process that traps it exits 143', async () => {
    await ok(['run', '-d', '--name', 'term', '--network', 'none', 'busybox', 'sh', '-c', 'trap "exit 143" TERM; while true; do sleep 0.1; done']);
    await ok(['stop', 'term']);
    assert.match(await status('term'), /^Exited \(143\) /);
    await ok(['rm', 'term']);
  });

  it('pause freezes the cgroup, unpause thaws it; exec runs in the container with -e -u -w', async () => {
    await ok(['run', '-d', '--name', 'frozen', '--network', 'none', 'busybox', 'sleep', '1000']);
    await ok(['pause', 'frozen']);
    const runtimeId = (await inspect('frozen')).NetworkSettings.SandboxID as string;
    const freezer = `/sys/fs/cgroup/freezer/builder/${runtimeId}/freezer.state`;
    if (existsSync(freezer)) assert.equal((await readFile(freezer, 'utf8')).trim(), 'FROZEN');
    assert.match(await status('frozen'), /^Up .* \(Paused\)$/);
    const execPaused = await cli(['exec', 'frozen', 'true']);
    assert.notEqual(execPaused.code, 0);
    assert.match(execPaused.stderr, /is paused, unpause the container before exec/);
    await ok(['unpause', 'frozen']);
    if (existsSync(freezer)) assert.equal((await readFile(freezer, 'utf8')).trim(), 'THAWED');
    const out = await cli(['exec', '-e', 'GREETING=hi', '-u', '65534', '-w', '/tmp', 'frozen', 'sh', '-c', 'echo $GREETING $(id -u) $(pwd); exit 7']);
    assert.equal(out.stdout, 'hi 65534 /tmp\n');
    assert.equal(out.code, 7);
    const top = await ok(['top', 'frozen']);
    assert.match(top, /^UID +PID +PPID .*CMD\n.*sleep 1000\n/s);
    await ok(['rm', '-f', 'frozen']);
  });

  it('cp both ways, and symlinks in the container never reach the host', async () => {
    const secret = path.join(scratch, 'host-secret.txt');
    await writeFile(secret, 'host secret');
    const hostDir = path.join(scratch, 'host-dir');
    await mkdir(hostDir, { recursive: true });
    await ok(['run', '-d', '--name', 'copy', '--network', 'none', 'busybox', 'sh', '-c',
      `mkdir -p /data && echo inside > /data/file.txt && ln -s ${secret} /leak && ln -s ${hostDir} /evil && exec sleep 1000`]);
    await until('the links', async () => (await cli(['exec', 'copy', 'test', '-L', '/evil'])).code === 0 || (await cli(['exec', 'copy', 'test', '-h', '/evil'])).code === 0);
    const out = path.join(scratch, 'out');
    await mkdir(out, { recursive: true });
    await ok(['cp', 'copy:/data/file.txt', out]);
    assert.equal(await readFile(path.join(out, 'file.txt'), 'utf8'), 'inside\n');
    await ok(['cp', 'copy:/data', path.join(out, 'data-copy')]);
    assert.equal(await readFile(path.join(out, 'data-copy', 'file.txt'), 'utf8'), 'inside\n');
    // A link is copied as a link: the host's secret is not read through it.
    await ok(['cp', 'copy:/leak', out]);
    assert.ok((await lstat(path.join(out, 'leak'))).isSymbolicLink());
    assert.equal(await readlink(path.join(out, 'leak')), secret);
    // Into the container: /evil/ resolves inside the rootfs, never to the host directory it names.
    const local = path.join(scratch, 'upload.txt');
    await writeFile(local, 'uploaded');
    await ok(['cp', local, 'copy:/data/']);
    assert.equal((await ok(['exec', 'copy', 'cat', '/data/upload.txt'])), 'uploaded');
    await cli(['cp', local, 'copy:/evil/']);
    assert.deepEqual(await readdir(hostDir), []);
    assert.equal(await readFile(secret, 'utf8'), 'host secret');
    const missing = await cli(['cp', 'copy:/nope', out]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Could not find the file \/nope in container copy/);
    await ok(['rm', '-f', 'copy']);
  });

  it('--restart on-failure:2 restarts a failing process twice; always survives a kill of the process', async () => {
    await ok(['run', '-d', '--name', 'flaky', '--network', 'none', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 3']);
    await until('two restarts', async () => (await inspect('flaky')).RestartCount === 2 && (await inspect('flaky')).State.Status === 'exited');
    assert.equal((await ok(['logs', 'flaky'])), 'run\nrun\nrun\n');
    assert.match(await status('flaky'), /^Exited \(3\) /);
    await ok(['rm', 'flaky']);

    await ok(['run', '-d', '--name', 'phoenix', '--network', 'none', '--restart', 'always', 'busybox', 'sleep', '1000']);
    const pid = (await inspect('phoenix')).State.Pid as number;
    process.kill(pid, 'SIGKILL');
    await until('a restart', async () => {
      const state = await inspect('phoenix');
      return state.RestartCount === 1 && state.State.Status === 'running';
    });
    await ok(['stop', '-t', '0', 'phoenix']);
    await sleep(500);
    assert.match(await status('phoenix'), /^Exited \(137\) /, 'a stopped container stays stopped');
    await ok(['rm', 'phoenix']);
  });

  it('a failing healthcheck turns the status unhealthy, a passing one healthy', async () => {
    await ok(['run', '-d', '--name', 'doctor', '--network', 'none', '--health-cmd', 'test -f /ok', '--health-interval', '300ms', '--health-retries', '2', 'busybox', 'sleep', '1000']);
    assert.match(await status('doctor'), /\(health: starting\)$/);
    await until('unhealthy', async () => /\(unhealthy\)$/.test(await status('doctor')));
    assert.equal((await inspect('doctor')).State.Health.Status, 'unhealthy');
    await ok(['exec', 'doctor', 'touch', '/ok']);
    await until('healthy', async () => /\(healthy\)$/.test(await status('doctor')));
    assert.equal((await ok(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}'])).trim(), 'doctor');
    // Finished checks leave no exec session and no exec leaves its process spec: the user's exec, at most one check
    // in flight (every 300 ms; a dozen ran by now).
    const execFiles = (await readdir(path.join(root, 'containers', (await inspect('doctor')).Id, 'exec'))).filter((f) => !f.includes('.tmp-'));
    assert.ok(execFiles.filter((f) => /^[0-9a-f]{64}\.json$/.test(f)).length <= 2, execFiles.join(' '));
    assert.ok(execFiles.filter((f) => f.endsWith('.process.json')).length <= 1, execFiles.join(' '));
    await ok(['rm', '-f', 'doctor']);
  });

  it('after kill -9 of the monitor and the process, ps tells the truth', async () => {
    await ok(['run', '-d', '--name', 'orphan', '--network', 'none', 'busybox', 'sleep', '1000']);
    const info = await inspect('orphan');
    const monitorPid = Number(await readFile(path.join(root, 'containers', info.Id, 'conmon.pid'), 'utf8'));
    process.kill(monitorPid, 'SIGKILL');
    await sleep(100);
    assert.match(await status('orphan'), /^Up /, 'the process itself still runs');
    process.kill(info.State.Pid as number, 'SIGKILL');
    await until('exited', async () => /^Exited \(255\) /.test(await status('orphan')));
    assert.match((await inspect('orphan')).State.Error, /monitor is gone/);
    await ok(['start', 'orphan']);
    assert.match(await status('orphan'), /^Up /);
    await ok(['rm', '-f', 'orphan']);
  });

  it('after a reboot, the next command brings back --restart always containers and tells the truth about the others', async () => {
    await ok(['run', '-d', '--name', 'boot-always', '--restart', 'always', '--network', 'none', 'busybox', 'sleep', '1000']);
    await ok(['run', '-d', '--name', 'boot-plain', '--network', 'none', 'busybox', 'sleep', '1000']);
    // A reboot, as far as builder can tell: every process gone and another boot id.
    for (const name of ['boot-always', 'boot-plain']) {
      const info = await inspect(name);
      const stateFile = path.join(root, 'containers', info.Id, 'state.json');
      const monitorPid = Number(await readFile(path.join(root, 'containers', info.Id, 'conmon.pid'), 'utf8'));
      process.kill(monitorPid, 'SIGKILL');
      process.kill(info.State.Pid as number, 'SIGKILL');
      await sleep(100);
      const state = JSON.parse(await readFile(stateFile, 'utf8')) as Record<string, unknown>;
      await writeFile(stateFile, JSON.stringify({ ...state, bootId: 'an-earlier-boot' }));
    }
    await writeFile(path.join(root, 'containers', '.boot-id'), 'an-earlier-boot');
    const listed = await ok(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
    assert.match(listed, /^boot-always Up /m);
    assert.match(listed, /^boot-plain Exited \(255\) /m);
    await ok(['rm', '-f', 'boot-always', 'boot-plain']);
  });

  it('foreground run returns the exit code; --rm leaves nothing; ps filters and formats', async () => {
    const before = await containerDirs();
    const run = await cli(['run', '--name', 'fg', '-l', 'tier=test', '--env-file', '/dev/null', 'busybox', 'sh', '-c', 'echo out; exit 5']);
    assert.equal(run.code, 5);
    assert.equal(run.stdout, 'out\n');
    assert.match(await status('fg'), /^Exited \(5\) /);
    assert.equal((await ok(['ps', '-a', '--filter', 'label=tier=test', '--format', '{{.Names}}|{{.Label "tier"}}|{{.State}}'])).trim(), 'fg|test|exited');
    assert.equal((await ok(['ps', '-a', '--filter', 'status=running', '-q'])).trim(), '');
    assert.equal((await ok(['ps', '-a', '--filter', 'ancestor=busybox', '--format', '{{.Names}}'])).trim(), 'fg');
    await ok(['rename', 'fg', 'fg2']);
    assert.equal((await inspect('fg2')).Name, '/fg2');
    const pruned = await ok(['container', 'prune', '-f']);
    assert.match(pruned, /Deleted Containers:\n[0-9a-f]{64}\n/);
    const rm = await cli(['run', '--rm', '-d', 'busybox', 'true']);
    assert.equal(rm.code, 0);
    await until('--rm removal', async () => (await containerDirs()).length === before.length);
  });

  it('web: published port on 127.0.0.1, stop closes it, pause silences it; a user network resolves names; volumes keep data', async function () {
    const hostPort = await freePort();
    await ok(['run', '-d', '--name', 'web', '-p', `127.0.0.1:${hostPort}:80`, 'web']);
    await until('the page', async () => (await fetchPage(hostPort)) === 'hello from web\n');
    assert.match(await ok(['ps', '--filter', 'name=web', '--format', '{{.Status}} {{.Ports}}']), new RegExp(`^Up .* 127\\.0\\.0\\.1:${hostPort}->80/tcp\n$`));
    assert.equal((await ok(['port', 'web', '80'])).trim(), `127.0.0.1:${hostPort}`);
    await until('the request in the log', async () => /response:200/.test((await cli(['logs', 'web'])).stderr + (await cli(['logs', 'web'])).stdout));
    await ok(['stop', '-t', '1', 'web']);
    assert.equal(await fetchPage(hostPort), undefined, 'the port is closed after stop');
    await ok(['start', 'web']);
    await until('the page again', async () => (await fetchPage(hostPort)) === 'hello from web\n');
    await ok(['pause', 'web']);
    assert.equal(await fetchPage(hostPort, 700), undefined, 'a paused server does not answer');
    await ok(['unpause', 'web']);
    assert.equal(await fetchPage(hostPort), 'hello from web\n');
    const taken = await cli(['run', '-d', '--name', 'web-clash', '-p', `127.0.0.1:${hostPort}:80`, 'web']);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, new RegExp(`${hostPort}`));
    assert.equal(await status('web-clash'), '', 'a port clash leaves no container');

    await ok(['network', 'create', 'ct-net']);
    await ok(['run', '-d', '--name', 'named-web', '--network', 'ct-net', '--network-alias', 'www', 'web']);
    const byName = await cli(['run', '--rm', '--network', 'ct-net', 'busybox', 'sh', '-c', 'wget -qO- http://named-web/ && wget -qO- http://www/']);
    assert.equal(byName.stdout, 'hello from web\nhello from web\n', byName.stderr);

    await ok(['run', '--rm', '-v', 'ct-data:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f']);
    assert.equal(await ok(['run', '--rm', '-v', 'ct-data:/data', 'busybox', 'cat', '/data/f']), 'kept\n');
    assert.equal(await ok(['run', '--rm', '-v', 'ct-www:/www', 'web', 'cat', '/www/index.html']), 'hello from web\n', 'copy-up into a new volume');
    await ok(['rm', '-f', 'web', 'named-web']);
    await ok(['network', 'rm', 'ct-net']);
    await ok(['volume', 'rm', 'ct-data', 'ct-www']);
  });

  it('logs -f follows until the container stops; exec -i passes stdin; stats, info and version answer', async () => {
    await ok(['run', '-d', '--name', 'chatty', '--network', 'none', '--memory', '64m', 'busybox', 'sh', '-c', 'echo one; sleep 1; echo two; sleep 1000']);
    const follow = runCli(['logs', '-f', 'chatty'], { root });
    await until('the second line', async () => (await cli(['logs', 'chatty'])).stdout === 'one\ntwo\n');
    const piped = await runCli(['exec', '-i', 'chatty', 'sh', '-c', 'tr a-z A-Z'], { root, input: 'shout\n' });
    assert.equal(piped.stdout, 'SHOUT\n');
    const stats = await ok(['stats', '--no-stream', 'chatty']);
    assert.match(stats, /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS\n[0-9a-f]{12} +chatty +[\d.]+% +[\d.]+MiB \/ 64\.00MiB /);
    await ok(['stop', '-t', '0', 'chatty']);
    const followed = await follow;
    assert.equal(followed.stdout, 'one\ntwo\n', 'logs -f ended with the container');
    const info = JSON.parse(await ok(['info', '--format', 'json'])) as Record<string, unknown>;
    assert.ok(Number(info.ContainersStopped) >= 1);
    assert.equal(info.Driver, 'overlay');
    assert.match(String(info.CgroupVersion), /^[12]$/);
    assert.match(await ok(['version']), /^Client:\n Version: +\d+\.\d+\.\d+/);
    // `docker --version` / `-v`: one line with the same version, exit 0.
    const version = /^Client:\n Version: +(\S+)/.exec(await ok(['version']))![1];
    for (const flag of ['--version', '-v']) assert.equal(await ok([flag]), `builder version ${version}\n`);
    await ok(['rm', 'chatty']);
  });

  it('GC: rmi names the container using the image; system df counts containers; system prune removes stopped ones', async () => {
    await ok(['tag', 'web', 'web-gc']);
    await ok(['create', '--name', 'gc-user', 'web-gc']);
    await ok(['rmi', 'web']);
    const refused = await cli(['rmi', 'web-gc']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /unable to remove repository reference "web-gc" \(must force\) - container [0-9a-f]{12} is using its referenced image/);
    assert.match(await ok(['system', 'df']), /^Containers +1 +0 +/m);
    assert.match(await ok(['system', 'prune', '-f']), /Deleted Containers:\n[0-9a-f]{64}\n/);
    await ok(['tag', 'web-gc', 'web']);
    await ok(['rmi', 'web-gc']);
  });

  it('bad input gets docker\'s errors and leaves nothing half-made', async () => {
    const before = await containerDirs();
    const unknown = await cli(['stop', 'no-such-ctr']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No such container: no-such-ctr/);
    await ok(['create', '--name', 'taken', 'busybox', 'true']);
    const clash = await cli(['run', '-d', '--name', 'taken', 'busybox', 'true']);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /The container name "\/taken" is already in use by container "[0-9a-f]{64}"/);
    assert.equal((await containerDirs()).length, before.length + 1);
    const racing = await Promise.all([1, 2, 3].map(() => cli(['create', '--name', 'raced', 'busybox', 'true'])));
    assert.equal(racing.filter((result) => result.code === 0).length, 1, 'one of three concurrent creates gets the name');
    await ok(['rm', 'raced']);
    for (const [args, message] of [
      [['-p', '80:99999'], /invalid containerPort: 99999/],
      [['-v', 'relative/path:/x'], /"relative\/path" includes invalid characters for a local volume name/],
      [['--mount', 'type=nfs,target=/x'], /mount type unknown/],
      [['--restart', 'sometimes'], /invalid restart policy 'sometimes'/],
      [['--rm', '--restart', 'always'], /Conflicting options: --restart and --rm/],
      [['--name', 'bad name!'], /Invalid container name/],
      [['--cap-add', 'WINGS'], /unknown capability: "WINGS"/],
      [['--mount', 'type=bind,source=/no/such/host/dir,target=/x'], /bind source path does not exist: \/no\/such\/host\/dir/],
    ] as [string[], RegExp][]) {
      const result = await cli(['run', '-d', ...args, 'busybox', 'true']);
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
    }
    const missingImage = await cli(['run', '-d', 'no-such-image', 'true']);
    assert.match(missingImage.stderr, /No such image: no-such-image/);
    const notFound = await cli(['run', '--name', 'nocmd', 'busybox', 'no-such-command']);
    assert.equal(notFound.code, 127);
    assert.match(notFound.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
    await ok(['rm', '-f', 'taken', 'nocmd']);
    assert.deepEqual((await containerDirs()).filter((dir) => !before.includes(dir)), [], 'nothing half-made remains');
  });
});
