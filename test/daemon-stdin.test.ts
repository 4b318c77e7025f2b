/**
 * stdin through `builder daemon`'s hijacked attach with the real docker CLI 28 and dockerode: `echo hi | docker run -i`,
 * `docker start -ai`, `docker run -it` under tmux (typed input, resize, detach keys, `docker attach` again),
 * `docker exec -i`, and a dockerode attach that writes stdin and half-closes.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { DOCKER_CLI, daemonSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon-server.js';
import { TmuxScreen, tmuxAvailable } from './helpers/tmux.js';

describe('builder daemon carries stdin for the docker CLI and dockerode', function () {
  this.timeout(90_000);
  let daemon: TestDaemon;

  before(async function () {
    const reason = daemonSkipReason() ?? (existsSync('/usr/bin/conmon') && existsSync('/usr/bin/socat') ? undefined : 'conmon or socat is missing (scripts/setup.sh)');
    if (reason) { console.log(`    skipped: ${reason}`); return this.skip(); }
    daemon = await startTestDaemon('daemon-stdin');
  });
  after(async () => {
    if (!daemon) return;
    if (daemon.child.exitCode !== null) console.log(daemon.log());
    await daemon.docker(['rm', '-f', 'once', 'term', 'sdk', 'execd']);
    await daemon.stop();
  });

  it('echo hi | docker run -i --rm busybox cat; the end of stdin ends the container', async () => {
    const cat = await daemon.docker(['run', '-i', '--rm', 'busybox', 'cat'], { input: 'hi\n' });
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'hi\n');
    const code = await daemon.docker(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'wc -l; exit 5'], { input: 'a\nb\nc\n' });
    assert.equal(code.code, 5, code.stderr);
    assert.equal(code.stdout.trim(), '3');
  });

  it('docker start -ai and docker exec -i', async () => {
    assert.equal((await daemon.docker(['create', '-i', '--name', 'once', 'busybox', 'sh', '-c', 'read l; echo "got $l"; exec sleep 60'])).code, 0);
    const start = daemon.docker(['start', '-ai', 'once'], { input: 'line\n', timeoutMs: 3000 });
    const deadline = Date.now() + 15_000;
    while (!(await daemon.docker(['logs', 'once'])).stdout.includes('got line')) {
      assert.ok(Date.now() < deadline, 'start -ai did not deliver stdin');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await start;
    const exec = await daemon.docker(['exec', '-i', 'once', 'tr', 'a-z', 'A-Z'], { input: 'shout\n' });
    assert.equal(exec.stdout, 'SHOUT\n', exec.stderr);
  });

  it('docker run -it under a terminal: typed keys, resize, ctrl-p ctrl-q, docker attach again', async function () {
    if (!tmuxAvailable()) { console.log('    skipped: tmux missing'); return this.skip(); }
    const env = Object.fromEntries(Object.entries(daemon.env));
    const screen = await TmuxScreen.start(`${DOCKER_CLI} run -it --name term busybox sh`, 90, 20, env);
    try {
      await screen.waitFor((s) => s.includes('/ #'), 'the shell prompt');
      await screen.sendKeys('stty size; echo $((6*7))', 'Enter');
      await screen.waitFor((s) => /20 90\s+42/.test(s), 'the size and the answer');
      await screen.resize(70, 15);
      await new Promise((resolve) => setTimeout(resolve, 500));
      await screen.sendKeys('stty size', 'Enter');
      await screen.waitFor((s) => /15 70/.test(s), 'the size after a resize');
      await screen.sendKeys('C-p', 'C-q');
      await screen.waitFor((s) => s.includes('[exit 0]'), 'the detach');
    } finally {
      await screen.stop();
    }
    assert.equal((await daemon.docker(['inspect', '-f', '{{.State.Running}}', 'term'])).stdout.trim(), 'true');
    const again = await TmuxScreen.start(`${DOCKER_CLI} attach term`, 90, 20, env);
    try {
      await again.sendKeys('exit 3', 'Enter');
      await again.waitFor((s) => s.includes('[exit 3]'), 'the shell\'s exit through docker attach');
    } finally {
      await again.stop();
    }
  });

  it('docker exec -it under a terminal: the pty starts at the terminal size, follows resizes, gives the exit code', async function () {
    if (!tmuxAvailable()) { console.log('    skipped: tmux missing'); return this.skip(); }
    assert.equal((await daemon.docker(['run', '-d', '--name', 'execd', '--network', 'none', 'busybox', 'sleep', '1000'])).code, 0);
    const env = Object.fromEntries(Object.entries(daemon.env));
    const screen = await TmuxScreen.start(`${DOCKER_CLI} exec -it execd sh`, 90, 20, env);
    try {
      await screen.waitFor((s) => s.includes('/ #'), 'the shell prompt');
      await screen.sendKeys('stty size; echo $((6*7))', 'Enter');
      await screen.waitFor((s) => /20 90\s+42/.test(s), 'the size (docker\'s ConsoleSize) and the answer');
      await screen.resize(70, 15);
      await new Promise((resolve) => setTimeout(resolve, 500));
      await screen.sendKeys('stty size', 'Enter');
      await screen.waitFor((s) => /15 70/.test(s), 'the size after a resize (POST /exec/{id}/resize)');
      await screen.sendKeys('exit 3', 'Enter');
      await screen.waitFor((s) => s.includes('[exit 3]'), 'the exec\'s exit code');
    } finally {
      await screen.stop();
    }
    const piped = await daemon.docker(['exec', '-t', 'execd', 'sh', '-c', 'tty; exit 4']);
    assert.equal(piped.code, 4, piped.stderr);
    assert.match(piped.stdout, /^\/dev\/pts\/\d+\r?\n$/);
    const missing = await daemon.docker(['exec', 'execd', 'no-such-command']);
    assert.equal(missing.code, 127, missing.stderr);
    assert.match(missing.stderr, /executable file not found in \$PATH/);
    const resize = await daemon.request('POST', '/exec/no-such-exec/resize?h=10&w=10');
    assert.equal(resize.status, 404);
    const json = { 'Content-Type': 'application/json' };
    const badSize = await daemon.request('POST', '/containers/execd/exec', { headers: json, body: JSON.stringify({ Cmd: ['true'], Tty: true, ConsoleSize: [24] }) });
    assert.equal(badSize.status, 400, badSize.body);
    assert.match(badSize.body, /ConsoleSize/);
    const created = JSON.parse((await daemon.request('POST', '/containers/execd/exec', { headers: json, body: JSON.stringify({ Cmd: ['true'] }) })).body) as { Id: string };
    assert.equal((await daemon.request('POST', `/exec/${created.Id}/resize?h=tall&w=10`)).status, 400);
  });

  it('dockerode attaches with stdin, writes, half-closes and reads the answer', async () => {
    const docker = new Docker({ socketPath: daemon.socket });
    const container = await docker.createContainer({
      name: 'sdk', Image: 'busybox', Cmd: ['sh', '-c', 'read a; read b; echo "$b $a"'],
      OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
    });
    const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }) as unknown as Duplex;
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    await container.start();
    stream.end('world\nhello\n');
    const result = await container.wait() as { StatusCode: number };
    assert.equal(result.StatusCode, 0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Multiplexed frames: [1, 0, 0, 0, size] + payload on stdout.
    const raw = Buffer.concat(chunks);
    assert.equal(raw[0], 1);
    assert.equal(raw.subarray(8).toString(), 'hello world\n');
  });
});
