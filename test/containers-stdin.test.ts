/**
 * stdin into conmon-monitored containers with builder's own CLI: `start -a -i`, `attach`, a service-path `run -i`
 * (EOF closes the container's stdin), and `run -it` / `start -ai` under a real terminal (tmux) with typed input,
 * window resize and the detach keys. Real conmon, runc and socat.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { cliMain, expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';
import { TmuxScreen, tmuxAvailable } from './helpers/tmux.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function stdinSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for runc';
  if (!existsSync('/usr/bin/conmon')) return 'conmon missing (scripts/setup.sh)';
  if (!existsSync('/usr/bin/socat')) return 'socat missing (scripts/setup.sh)';
  return undefined;
}

describe('stdin into monitored containers (builder CLI)', function () {
  this.timeout(90_000);
  let root = '';
  let scratch = '';
  const cli = (args: string[], input?: string): Promise<CliResult> => runCli(args, { root, input });
  const ok = async (args: string[], input?: string): Promise<string> => expectSuccess(await cli(args, input), args.join(' ')).stdout;

  before(async function () {
    const reason = stdinSkipReason();
    if (reason) { console.log(`    skipped: ${reason}`); return this.skip(); }
    scratch = await makeTempDir('stdin-scratch');
    root = await makeFixtureRoot('stdin-root', scratch);
  });
  after(async () => {
    if (!root) return;
    for (const id of (await cli(['ps', '-aq'])).stdout.split('\n').filter(Boolean)) await cli(['rm', '-f', id]);
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  it('start -ai feeds stdin; its end closes the container\'s stdin (StdinOnce) and the exit code comes back', async () => {
    await ok(['create', '-i', '--name', 'reader', 'busybox', 'sh', '-c', 'while read l; do echo "got $l"; done; echo eof; exit 4']);
    const run = await cli(['start', '-a', '-i', 'reader'], 'one\ntwo\n');
    assert.equal(run.code, 4, run.stderr);
    assert.equal(run.stdout, 'got one\ngot two\neof\n');
  });

  it('run -i on the monitored path (a label makes it a service container): echo hi | run -i cat', async () => {
    const run = await cli(['run', '-i', '--rm', '--label', 'k=v', 'busybox', 'cat'], 'hi\n');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'hi\n');
  });

  it('start -a of a container that exits at once still gives its output and exit code (docker attaches before the start)', async () => {
    await ok(['create', '--name', 'quick', 'busybox', 'sh', '-c', 'echo quick; exit 3']);
    for (let i = 0; i < 2; i++) {
      const run = await cli(['start', '-a', 'quick']);
      assert.equal(run.code, 3, run.stderr);
      assert.equal(run.stdout, 'quick\n');
    }
  });

  it('a kept run -i (the direct path) can be started again with start -ai, and EOF still ends its cat', async () => {
    assert.equal(await ok(['run', '-i', '--name', 'again', 'busybox', 'cat'], 'first\n'), 'first\n');
    const run = await cli(['start', '-ai', 'again'], 'second\n');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'second\n');
  });

  it('attach to run -d -i: input reaches it, and stdin stays open after the client goes (no StdinOnce)', async () => {
    await ok(['run', '-d', '-i', '--name', 'kept', 'busybox', 'sh', '-c', 'while read l; do echo "kept $l"; done; echo closed']);
    const child = runCli(['attach', '--no-sig-proxy', 'kept'], { root, input: 'first\n', timeoutMs: 3000 });
    const deadline = Date.now() + 15_000;
    while (!(await cli(['logs', 'kept'])).stdout.includes('kept first')) {
      assert.ok(Date.now() < deadline, 'the attached input never reached the container');
      await sleep(100);
    }
    await child;
    assert.equal((await cli(['logs', 'kept'])).stdout, 'kept first\n');
    assert.match((await ok(['ps', '--filter', 'name=kept', '--format', '{{.Status}}'])), /^Up /);
    const again = runCli(['attach', 'kept'], { root, input: 'second\n', timeoutMs: 2000 });
    await again;
    assert.match((await cli(['logs', 'kept'])).stdout, /kept second\n$/);
    const stopped = await cli(['attach', 'no-such-container']);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /No such container: no-such-container/);
  });

  it('-it without a terminal on stdin is refused before anything starts', async () => {
    await ok(['create', '-it', '--name', 'notty', 'busybox', 'sh']);
    const start = await cli(['start', '-ai', 'notty'], '');
    assert.notEqual(start.code, 0);
    assert.match(start.stderr, /the input device is not a TTY/);
    assert.equal((await ok(['ps', '-a', '--filter', 'name=notty', '--format', '{{.Status}}'])).trim(), 'Created');
  });

  it('attach refuses a stopped container with docker\'s message', async () => {
    await ok(['create', '--name', 'idle', 'busybox', 'true']);
    const attach = await cli(['attach', 'idle']);
    assert.equal(attach.code, 1);
    assert.match(attach.stderr, /You cannot attach to a stopped container, start it first/);
  });

  it('create -it + start -ai under a terminal: typed keys, window size, resize, detach keys', async function () {
    if (!tmuxAvailable()) { console.log('    skipped: tmux missing'); return this.skip(); }
    await ok(['create', '-it', '--name', 'term', 'busybox', 'sh']);
    const screen = await TmuxScreen.start(`${process.execPath} ${cliMain} --root ${root} start -ai term`, 90, 20);
    try {
      await screen.waitFor((s) => s.includes('/ #'), 'the shell prompt');
      await screen.sendKeys('stty size; echo $((6*7))', 'Enter');
      await screen.waitFor((s) => /20 90\n42/.test(s), 'the terminal size and the answer');
      await screen.resize(70, 15);
      await sleep(300);
      await screen.sendKeys('stty size', 'Enter');
      await screen.waitFor((s) => /15 70/.test(s), 'the new size after a resize');
      await screen.sendKeys('C-p', 'C-q');
      await screen.waitFor((s) => s.includes('[exit 0]'), 'the detach');
      assert.match((await ok(['ps', '--filter', 'name=term', '--format', '{{.Status}}'])), /^Up /);
    } finally {
      await screen.stop();
    }
    const again = await TmuxScreen.start(`${process.execPath} ${cliMain} --root ${root} attach term`, 90, 20);
    try {
      await again.sendKeys('exit 3', 'Enter');
      await again.waitFor((s) => s.includes('[exit 3]'), 'the exit code of the shell through attach');
    } finally {
      await again.stop();
    }
  });

  it('exec -it under a terminal: the exec\'s pty follows a window resize; exec -t with piped stdio still gets a pty', async function () {
    if (!tmuxAvailable()) { console.log('    skipped: tmux missing'); return this.skip(); }
    await ok(['run', '-d', '--name', 'host', '--network', 'none', 'busybox', 'sleep', '1000']);
    const screen = await TmuxScreen.start(`${process.execPath} ${cliMain} --root ${root} exec -it host sh`, 90, 20);
    try {
      await screen.waitFor((s) => s.includes('/ #'), 'the shell prompt');
      await screen.sendKeys('stty size', 'Enter');
      await screen.waitFor((s) => /20 90/.test(s), 'the terminal size');
      await screen.resize(70, 15);
      await sleep(300);
      await screen.sendKeys('stty size', 'Enter');
      await screen.waitFor((s) => /15 70/.test(s), 'the size after a resize');
      await screen.sendKeys('exit 6', 'Enter');
      await screen.waitFor((s) => s.includes('[exit 6]'), 'the exec\'s exit code');
    } finally {
      await screen.stop();
    }
    // No terminal on our side: conmon holds the pty (runc alone would fail to open /dev/tty); a TTY ends lines with CRLF.
    const piped = await cli(['exec', '-t', 'host', 'sh', '-c', 'tty; exit 5']);
    assert.equal(piped.code, 5, piped.stderr);
    assert.match(piped.stdout, /^\/dev\/pts\/\d+\r\n$/);
    // A command that is not there: docker's 127 and runc's reason, with and without a pty.
    for (const flags of [[], ['-t']]) {
      const missing = await cli(['exec', ...flags, 'host', 'no-such-command']);
      assert.equal(missing.code, 127, `exec ${flags.join(' ')}: ${missing.stderr}`);
      assert.match(missing.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
      assert.doesNotMatch(missing.stderr, /level=error/);
    }
    const refused = await cli(['exec', '-it', 'host', 'true']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /the input device is not a TTY/);
  });
});
