/**
 * `RUN --mount=type=ssh` with `builder build --ssh`, end to end through the real CLI and a real ssh-agent
 * (Debian's openssh-client) holding a freshly generated key: `ssh-add -l` inside the RUN lists it, at the
 * default /run/buildkit/ssh_agent.0 with SSH_AUTH_SOCK set, or at a target with its mode/uid/gid; key files
 * given to --ssh are served by an agent of the build's own; a required mount without its agent fails with
 * BuildKit's words at its line; nothing of the socket stays in the image; the agent is no part of the key.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { daemonSkipReason, startTestDaemon } from './helpers/daemon-server.js';
import { expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const TOOLS = ['ssh-agent', 'ssh-add', 'ssh-keygen'];

function which(tool: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Copies the host's ssh-add and the libraries ldd names into `dir` (a rootfs overlay for COPY). */
function copySshAdd(dir: string): void {
  const binary = which('ssh-add')!;
  const files = [binary];
  for (const line of execFileSync('ldd', [binary], { encoding: 'utf8' }).split('\n')) {
    const match = /(\/\S+) \(0x/.exec(line);
    if (match) files.push(match[1]!);
  }
  for (const file of files) {
    const dest = path.join(dir, file);
    mkdirSync(path.dirname(dest), { recursive: true });
    copyFileSync(file, dest);
  }
  execFileSync('chmod', ['0755', path.join(dir, binary)]);
}

/** A running `ssh-agent -D` of this test, with `keys` added. */
async function startAgent(socket: string, keys: string[]): Promise<ChildProcess> {
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  for (let i = 0; i < 300 && !existsSync(socket); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(existsSync(socket), 'ssh-agent opened its socket');
  for (const key of keys) execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
  return agent;
}

async function stopAgent(agent: ChildProcess | undefined): Promise<void> {
  if (!agent || agent.exitCode !== null || agent.signalCode !== null) return;
  const exited = new Promise((resolve) => agent.once('exit', resolve));
  agent.kill('SIGTERM');
  await exited;
}

/** `256 SHA256:… comment (ED25519)`: what `ssh-add -l` prints for a key. */
const fingerprint = (pub: string): string => execFileSync('ssh-keygen', ['-l', '-f', pub], { encoding: 'utf8' }).trim();

/** Whether the build's `RUN --mount` step was a cache hit (`#n CACHED` for its step id). */
function runCached(result: CliResult): boolean {
  const lines = result.stderr.split('\n');
  const id = lines.find((line) => line.includes('RUN --mount') && /^#\d+ \[/.test(line))?.split(' ')[0];
  assert.ok(id, `no RUN --mount step in:\n${result.stderr}`);
  return lines.includes(`${id} CACHED`);
}

/** Agent dirs of a build (`builder-ssh-agent-<pid>-…`, `builder-ssh-<pid>-…`) still in the temp dir. */
const leftovers = (): string[] => readdirSync(os.tmpdir()).filter((name) => name.startsWith('builder-ssh-'));

describe('RUN --mount=type=ssh and build --ssh (CLI)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let counter = 0;
  let agentA: ChildProcess | undefined;
  let agentB: ChildProcess | undefined;
  let sockA = '';
  let sockB = '';
  const keys: Record<string, string> = {};

  const context = async (dockerfile: string): Promise<string> => {
    const dir = path.join(scratch, `ctx-${++counter}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    copySshAdd(path.join(dir, 'tools'));
    return dir;
  };
  const build = (dir: string, extra: string[] = [], env: Record<string, string> = {}): Promise<CliResult> =>
    runCli(['build', '--progress=plain', ...extra, dir], { root, env });
  const runImage = async (tag: string, cmd: string[]): Promise<string> =>
    expectSuccess(await runCli(['run', '--rm', '--network=none', tag, ...cmd], { root }), `run ${cmd.join(' ')}`).stdout;

  before(async function () {
    const missing = TOOLS.filter((tool) => !which(tool));
    if (missing.length > 0) {
      console.log(`    skipped: ${missing.join(', ')} not installed (apt-get install openssh-client)`);
      this.skip();
    }
    scratch = await makeTempDir('run-mount-ssh-scratch');
    root = await makeFixtureRoot('run-mount-ssh-root', scratch);
    for (const name of ['alpha', 'beta', 'gamma']) {
      keys[name] = path.join(scratch, `id_${name}`);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@builder-test`, '-f', keys[name]!]);
    }
    // Short paths: a unix socket's path is limited to 108 bytes.
    sockA = path.join(scratch, 'a.sock');
    sockB = path.join(scratch, 'b.sock');
    agentA = await startAgent(sockA, [keys.alpha!]);
    agentB = await startAgent(sockB, [keys.beta!]);
  });

  after(async function () {
    await stopAgent(agentA);
    await stopAgent(agentB);
    if (root) await removeTempDir(root);
    if (scratch) await removeTempDir(scratch);
  });

  it('forwards an agent socket at /run/buildkit/ssh_agent.0 with SSH_AUTH_SOCK, and key files through an agent of its own', async function () {
    const before = leftovers();
    const dir = await context(`FROM busybox
COPY tools/ /
RUN --mount=type=ssh ssh-add -l > /default.txt && echo "$SSH_AUTH_SOCK" >> /default.txt && stat -c '%a %u:%g %F' "$SSH_AUTH_SOCK" >> /default.txt
RUN --mount=type=ssh,id=keys,target=/tmp/agent.sock,mode=0660,uid=1000,gid=1000,required=true stat -c '%a %u:%g %F' /tmp/agent.sock > /keys.txt && SSH_AUTH_SOCK=/tmp/agent.sock ssh-add -l >> /keys.txt && echo "auth=$SSH_AUTH_SOCK" >> /keys.txt
RUN --mount=type=ssh,id=keys,target=agent --mount=type=ssh test -S /agent && SSH_AUTH_SOCK=/run/buildkit/ssh_agent.1 ssh-add -l | cut -d' ' -f3 > /numbered.txt && echo "$SSH_AUTH_SOCK" >> /numbered.txt
`);
    expectSuccess(await build(dir, ['-t', 'ssh-mount', '--ssh', `default=${sockA}`, '--ssh', `keys=${keys.gamma},${keys.beta}`]), 'build');
    assert.equal(await runImage('ssh-mount', ['cat', '/default.txt']),
      `${fingerprint(`${keys.alpha}.pub`)}\n/run/buildkit/ssh_agent.0\n600 0:0 socket\n`);
    // Several key files: one agent holding them all, in the order given. SSH_AUTH_SOCK names the RUN's first ssh mount.
    assert.equal(await runImage('ssh-mount', ['cat', '/keys.txt']),
      `660 1000:1000 socket\n${fingerprint(`${keys.gamma}.pub`)}\n${fingerprint(`${keys.beta}.pub`)}\nauth=/tmp/agent.sock\n`);
    // The second ssh mount is ssh_agent.1 although the first has a target; a relative target is kept as written.
    assert.equal(await runImage('ssh-mount', ['cat', '/numbered.txt']), 'alpha@builder-test\nagent\n');
    // No socket, stub or /run/buildkit in the image; the private agent and proxy dirs are gone.
    assert.equal(await runImage('ssh-mount', ['sh', '-c', 'test ! -e /run/buildkit && test ! -e /tmp/agent.sock && echo clean']), 'clean\n');
    assert.deepEqual(leftovers().filter((name) => !before.includes(name)), []);
  });

  it('takes $SSH_AUTH_SOCK for a bare --ssh default, and keys on the mount options, not the agent behind them', async function () {
    const dir = await context(`FROM busybox
COPY tools/ /
RUN --mount=type=ssh ssh-add -l | cut -d' ' -f3
`);
    const first = expectSuccess(await build(dir, ['--ssh', 'default'], { SSH_AUTH_SOCK: sockA }), 'first build');
    assert.match(first.stderr, /alpha@builder-test/);
    // Another agent, other keys: BuildKit's key has the mount's id/target/mode, not the agent; the RUN is cached.
    const second = expectSuccess(await build(dir, ['--ssh', `default=${sockB}`]), 'second build');
    assert.ok(runCached(second), second.stderr);
    assert.doesNotMatch(second.stderr, /beta@builder-test/);
    const fresh = expectSuccess(await build(dir, ['--no-cache', '--ssh', `default=${sockB}`]), '--no-cache build');
    assert.match(fresh.stderr, /beta@builder-test/);
    assert.ok(!runCached(fresh), fresh.stderr);
  });

  it('skips an optional mount without an agent (SSH_AUTH_SOCK still set) and fails a required one in BuildKit\'s words', async function () {
    const optional = await context(`FROM busybox
RUN --mount=type=ssh echo "sock=$SSH_AUTH_SOCK" > /optional.txt && test ! -e "$SSH_AUTH_SOCK" && echo absent >> /optional.txt
`);
    expectSuccess(await build(optional, ['-t', 'ssh-optional'], { SSH_AUTH_SOCK: '' }), 'optional build');
    assert.equal(await runImage('ssh-optional', ['cat', '/optional.txt']), 'sock=/run/buildkit/ssh_agent.0\nabsent\n');

    const required = await context(`FROM busybox
# a comment line
RUN --mount=type=ssh,required=true echo never
`);
    const none = await build(required);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /Dockerfile:3/);
    assert.match(none.stderr, /no SSH key "default" forwarded from the client/);

    const other = await context(`FROM busybox
RUN --mount=type=ssh,id=deploy,required echo never
`);
    const unset = await build(other, ['--ssh', `default=${sockA}`]);
    assert.notEqual(unset.code, 0);
    assert.match(unset.stderr, /Dockerfile:2/);
    assert.match(unset.stderr, /unset ssh forward key deploy/);
  });

  it('through a daemon: the Engine API build has no ssh session (BuildKit\'s error), builder build --ssh stays in-process', async function () {
    const why = daemonSkipReason();
    if (why) {
      console.log(`    skipped: ${why}`);
      this.skip();
    }
    const daemon = await startTestDaemon('run-mount-ssh-daemon');
    try {
      const dir = await context(`FROM busybox
COPY tools/ /
RUN --mount=type=ssh,required=true ssh-add -l | cut -d' ' -f3
`);
      const viaApi = await daemon.docker(['build', dir]);
      assert.notEqual(viaApi.code, 0);
      assert.match(viaApi.stdout + viaApi.stderr, /no SSH key "default" forwarded from the client/);
      const embedded = await build(dir, ['--ssh', `default=${sockA}`], { BUILDER_HOST: `unix://${daemon.socket}` });
      expectSuccess(embedded, 'builder build --ssh with a daemon answering');
      assert.match(embedded.stderr, /alpha@builder-test/);
    } finally {
      await daemon.stop();
    }
  });

  it('rejects an --ssh it cannot serve before building', async function () {
    const dir = await context('FROM busybox\nRUN true\n');
    const empty = await build(dir, ['--ssh', 'default'], { SSH_AUTH_SOCK: '' });
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set/);
    const missing = await build(dir, ['--ssh', `default=${path.join(scratch, 'no-such-key')}`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no-such-key/);
    const notKey = await build(dir, ['--ssh', `default=${path.join(dir, 'Dockerfile')}`]);
    assert.notEqual(notKey.code, 0);
    assert.match(notKey.stderr, /failed to load/);
    const twoSockets = await build(dir, ['--ssh', `default=${sockA},${sockB}`]);
    assert.notEqual(twoSockets.code, 0);
    assert.match(twoSockets.stderr, /only single socket allowed/);
    // A farm's worker has no way back to this machine's agent.
    const remote = await build(dir, ['--remote', 'http://127.0.0.1:9', '--ssh', `default=${sockA}`]);
    assert.notEqual(remote.code, 0);
    assert.match(remote.stderr, /--ssh is not supported with --remote/);
  });
});
