/**
 * A container session with the real docker CLI against `builder daemon`: run --rm (output, exit codes), run -d -p,
 * ps, logs -f, exec (-i), inspect -f, stop, start, rm, run -it under a pty, cp both ways, and container events.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { runCommand } from './helpers/cli.js';
import { DOCKER_CLI, daemonSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon-server.js';
import { freePort } from './helpers/registry-server.js';

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('builder daemon runs containers for the docker CLI', function () {
  this.timeout(120_000);
  let daemon: TestDaemon;

  before(async function () {
    const reason = daemonSkipReason() ?? (existsSync('/usr/bin/conmon') ? undefined : 'conmon is not installed (scripts/setup.sh)');
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    daemon = await startTestDaemon('daemon-run');
  });
  after(async () => {
    if (!daemon) return;
    await daemon.docker(['rm', '-f', 'web', 'ticker', 'sleeper']);
    assert.equal(await daemon.stop(), 0);
    // Attach and exec sockets were all closed: nothing held the shutdown up to its 2 s bounds (the daemon logs
    // each bound that fires; a clock here would measure the machine's load instead).
    assert.doesNotMatch(daemon.log(), /shutdown: .* still open after/);
  });

  it('run --rm prints the output and exits with the container\'s code', async () => {
    const ok = await daemon.docker(['run', '--rm', 'busybox', 'echo', 'hello from a container']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'hello from a container\n');
    const failed = await daemon.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo to-stderr >&2; exit 7']);
    assert.equal(failed.code, 7);
    assert.equal(failed.stderr, 'to-stderr\n');
    const missing = await daemon.docker(['run', '--rm', '--pull', 'never', 'no-such-image:1', 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such image: no-such-image:1/);
  });

  it('run -d -p publishes a port on 127.0.0.1; ps, inspect -f, exec, stop, start, rm', async () => {
    const port = await freePort();
    const started = await daemon.docker(['run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']);
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    let body = '';
    for (let i = 0; i < 50 && !body.includes('root:x:0:0'); i++) {
      body = await get(`http://127.0.0.1:${port}/passwd`).catch(() => '');
      if (!body) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(body, /root:x:0:0/);
    const ps = await daemon.docker(['ps', '--format', '{{.Names}} {{.Ports}}']);
    assert.ok(ps.stdout.includes(`web 127.0.0.1:${port}->80/tcp`), ps.stdout);
    assert.equal((await daemon.docker(['inspect', '-f', '{{.State.Status}} {{.Id}}', 'web'])).stdout.trim(), `running ${id}`);
    const exec = await daemon.docker(['exec', 'web', 'sh', '-c', 'echo in-exec; exit 4']);
    assert.equal(exec.code, 4);
    assert.equal(exec.stdout, 'in-exec\n');
    const piped = await daemon.docker(['exec', '-i', 'web', 'cat'], { input: 'through stdin\n' });
    assert.equal(piped.stdout, 'through stdin\n');
    assert.equal((await daemon.docker(['stop', '-t', '1', 'web'])).code, 0);
    assert.match((await daemon.docker(['inspect', '-f', '{{.State.Status}}', 'web'])).stdout, /exited/);
    assert.equal((await daemon.docker(['start', 'web'])).code, 0);
    assert.match((await daemon.docker(['inspect', '-f', '{{.State.Status}}', 'web'])).stdout, /running/);
    assert.equal((await daemon.docker(['rm', '-f', 'web'])).code, 0);
    const gone = await daemon.docker(['inspect', '--type', 'container', 'web']);
    assert.notEqual(gone.code, 0);
  });

  it('logs -f follows until the container exits', async () => {
    const started = await daemon.docker(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'echo first; sleep 1; echo second >&2']);
    assert.equal(started.code, 0, started.stderr);
    const logs = await daemon.docker(['logs', '-f', 'ticker']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'first\n');
    assert.equal(logs.stderr, 'second\n');
    const tail = await daemon.docker(['logs', '--tail', '1', '-t', 'ticker']);
    assert.match(tail.stderr, /^\d{4}-\d\d-\d\dT\S+ second\n$/);
  });

  it('run -it under a pty gets a terminal', async function () {
    if (!existsSync('/usr/bin/script')) {
      console.log('    skipped: script (util-linux) is not installed');
      return this.skip();
    }
    const env = Object.entries(daemon.env).map(([k, v]) => `${k}=${v}`).join(' ');
    const tty = await runCommand('script', ['-qec', `${env} ${DOCKER_CLI} run -it --rm busybox sh -c 'tty; exit 3'`, '/dev/null']);
    assert.equal(tty.code, 3, tty.stdout + tty.stderr);
    assert.match(tty.stdout, /\/dev\/pts\/\d+/);
  });

  it('cp copies into and out of a container', async () => {
    assert.equal((await daemon.docker(['run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '60'])).code, 0);
    const file = path.join(daemon.dir, 'to-copy.txt');
    await writeFile(file, 'copied-in\n');
    const into = await daemon.docker(['cp', file, 'sleeper:/tmp/']);
    assert.equal(into.code, 0, into.stderr);
    assert.equal((await daemon.docker(['exec', 'sleeper', 'cat', '/tmp/to-copy.txt'])).stdout, 'copied-in\n');
    const out = path.join(daemon.dir, 'copied-out');
    const back = await daemon.docker(['cp', 'sleeper:/etc/passwd', out]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(await readFile(out, 'utf8'), /^root:x:0:0/);
    const rmi = await daemon.docker(['rmi', 'busybox']);
    assert.equal(rmi.code, 1, 'an image a container uses is not removed');
    // moby's wording for a name (a repository reference); an id gets "image is being used by running container".
    assert.match(rmi.stderr, /unable to remove repository reference "busybox" \(must force\) - container [0-9a-f]{12} is using its referenced image [0-9a-f]{12}/);
  });

  it('docker cp sees a named volume (out of it and into it)', async () => {
    assert.equal((await daemon.docker(['run', '-d', '--name', 'voluser', '-v', 'cpvol:/data', 'busybox', 'sh', '-c', 'echo in-volume > /data/f; exec sleep 60'])).code, 0);
    const out = path.join(daemon.dir, 'from-volume');
    const deadline = Date.now() + 10_000;
    let copied = await daemon.docker(['cp', 'voluser:/data/f', out]);
    while (copied.code !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      copied = await daemon.docker(['cp', 'voluser:/data/f', out]);
    }
    assert.equal(copied.code, 0, copied.stderr);
    assert.equal(await readFile(out, 'utf8'), 'in-volume\n');
    const file = path.join(daemon.dir, 'into-volume.txt');
    await writeFile(file, 'copied-in\n');
    assert.equal((await daemon.docker(['cp', file, 'voluser:/data/'])).code, 0);
    assert.equal((await daemon.docker(['exec', 'voluser', 'cat', '/data/into-volume.txt'])).stdout, 'copied-in\n');
    await daemon.docker(['rm', '-f', '-v', 'voluser']);
  });

  it('publishes container events', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    assert.equal((await daemon.docker(['run', '--rm', '--name', 'evt', 'busybox', 'true'])).code, 0);
    const events = await daemon.docker(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=evt', '--format', '{{.Action}}']);
    const actions = events.stdout.trim().split('\n');
    for (const action of ['create', 'start', 'die', 'destroy']) assert.ok(actions.includes(action), events.stdout);
  });

  it('publishes die for a detached container that exits on its own', async () => {
    const until = Math.floor(Date.now() / 1000) + 6;
    const watching = daemon.docker(['events', '--until', String(until), '--filter', 'event=die', '--format', '{{.Actor.Attributes.name}}']);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await daemon.docker(['run', '-d', '--name', 'short-lived', 'busybox', 'sh', '-c', 'sleep 1'])).code, 0);
    const events = await watching;
    assert.ok(events.stdout.split('\n').includes('short-lived'), events.stdout + events.stderr);
    await daemon.docker(['rm', '-f', 'short-lived']);
  });
});
