import { strict as assert } from 'node:assert';
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildError } from '../errors.js';
import { runSandbox } from './runc.js';
import type { RunSpec } from './spec.js';
import { makeBusyboxRootfs, makeTempDir, mountOverlay, removeTempDir } from './test-rootfs.js';

interface Captured { exitCode: number; stdout: string; stderr: string }

describe('sandbox/runc runSandbox', function () {
  this.timeout(30000);
  let rootfs: string;
  before(async () => {
    rootfs = await makeTempDir('runc-test-');
    await chmod(rootfs, 0o755);
    await makeBusyboxRootfs(rootfs, {
      passwd: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n',
      group: 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n',
      hosts: '', hostname: '', 'resolv.conf': '',
    });
  });
  after(async () => removeTempDir(rootfs));

  async function run(args: string[], extra: Partial<RunSpec> = {}): Promise<Captured> {
    let stdout = '';
    let stderr = '';
    const { exitCode } = await runSandbox({
      rootfs, args, env: [], cwd: '/', user: '', network: 'none', stdio: 'pipe',
      onStdout: (chunk) => { stdout += chunk.toString(); },
      onStderr: (chunk) => { stderr += chunk.toString(); },
      ...extra,
    });
    return { exitCode, stdout, stderr };
  }

  it('returns the exit code, 128+n for a signal, 127/126 for exec failures', async () => {
    assert.equal((await run(['true'])).exitCode, 0);
    assert.equal((await run(['sh', '-c', 'exit 3'])).exitCode, 3);
    // The container's pid 1 ignores its own signals; a killed child shows the shell's 128+n.
    assert.equal((await run(['sh', '-c', 'sh -c "kill -9 \\$\\$"; exit $?'])).exitCode, 137);
    const missing = await run(['no-such-command']);
    assert.equal(missing.exitCode, 127);
    assert.match(missing.stderr, /executable file not found/);
    assert.equal((await run(['/etc/passwd'])).exitCode, 126);
  });

  it('captures stdout and stderr separately', async () => {
    const result = await run(['sh', '-c', 'echo out; echo err >&2']);
    assert.deepEqual([result.stdout, result.stderr], ['out\n', 'err\n']);
  });

  it('sets env with PATH/HOME defaults, cwd, and user with supplementary groups', async () => {
    const result = await run(['sh', '-c', 'echo "$PATH|$HOME|$FOO|$(pwd)|$(id)|$(umask)"'], {
      env: ['FOO=bar'], cwd: '/tmp/work', user: 'app',
    });
    assert.equal(result.stdout, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/home/app|bar|/tmp/work|uid=1000(app) gid=1000(app) groups=50(staff),1000(app)|0022\n');
    const numeric = await run(['id'], { user: '1000:1000', env: ['PATH=/bin', 'HOME=/h'] });
    assert.equal(numeric.stdout, 'uid=1000(app) gid=1000(app) groups=1000(app)\n');
  });

  it('confines the process: docker capabilities, no_new_privs, masked /proc/keys, read-only /proc/sys, nofile', async () => {
    const result = await run(['sh', '-c', 'grep -E "^(CapBnd|CapEff|NoNewPrivs)" /proc/self/status; wc -c < /proc/keys; echo 1 > /proc/sys/kernel/domainname || echo ro; ulimit -n']);
    const lines = result.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 3), ['CapEff:\t00000000a80425fb', 'CapBnd:\t00000000a80425fb', 'NoNewPrivs:\t1']);
    assert.equal(lines[3]!.trim(), '0');
    assert.equal(lines[4], 'ro');
    assert.ok(Number(lines[5]) >= 1024);
    const user = await run(['sh', '-c', 'grep -E "^Cap(Bnd|Eff)" /proc/self/status'], { user: '1000' });
    assert.equal(user.stdout, 'CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n');
  });

  it('isolates the network (none: only lo) and shares it with host', async () => {
    const none = await run(['ls', '/sys/class/net']);
    assert.equal(none.stdout.trim(), 'lo');
    const host = await run(['ls', '/sys/class/net'], { network: 'host' });
    assert.ok(host.stdout.trim().split(/\s+/).length > 1, host.stdout);
  });

  it('generates /etc/hosts and /etc/hostname', async () => {
    const result = await run(['sh', '-c', 'hostname; cat /etc/hostname; grep -c localhost /etc/hosts'], { hostname: 'sandbox1' });
    assert.equal(result.stdout, 'sandbox1\nsandbox1\n2\n');
  });

  it('stops a fork bomb with the pids limit', async () => {
    const result = await run(['sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 1; echo survived'], { pidsLimit: 64 });
    assert.match(result.stdout, /survived/);
  });

  it('kills a memory hog at the memory limit', async () => {
    const result = await run(['sh', '-c', 'hog=$(head -c 200m /dev/zero | tr "\\0" a); echo survived'], { memoryBytes: 64 * 1024 * 1024 });
    assert.equal(result.stdout, '');
    assert.equal(result.exitCode, 137);
  });

  it('kills the container on an abort (its 60 s sleep is not waited out)', async () => {
    const controller = new AbortController();
    const start = Date.now();
    const running = run(['sleep', '60'], { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await assert.rejects(running, (err: unknown) => err instanceof BuildError && err.code === 'CANCELLED');
    // Behaviour, not speed: anything well under the sleep's 60 s means the container was killed.
    assert.ok(Date.now() - start < 30_000, `took ${Date.now() - start} ms: the sleep was waited out`);
  });

  it('forwards signals sent to this process to the container', async () => {
    let stdout = '';
    const running = runSandbox({
      rootfs, args: ['sh', '-c', 'trap "echo got-hup; exit 7" HUP; echo ready; while true; do sleep 0.05; done'],
      env: [], cwd: '/', user: '', network: 'none', stdio: 'pipe', forwardSignals: true,
      onStdout: (chunk) => {
        stdout += chunk.toString();
        if (stdout === 'ready\n') process.kill(process.pid, 'SIGHUP');
      },
    });
    assert.equal((await running).exitCode, 7);
    assert.equal(stdout, 'ready\ngot-hup\n');
    assert.equal(process.listenerCount('SIGHUP'), 0);
  });

  it('gives the process a terminal with tty (under a real pty from script(1))', () => {
    const runcModule = fileURLToPath(new URL('./runc.js', import.meta.url));
    const program = `const { runSandbox } = await import(${JSON.stringify(runcModule)});
      const r = await runSandbox({ rootfs: ${JSON.stringify(rootfs)}, args: ['sh', '-c', 'tty; test -t 0 && echo stdin-tty; echo TERM=$TERM; exit 4'],
        env: [], cwd: '/', user: '', network: 'none', stdio: 'inherit', tty: true, stdin: true });
      console.log('exit=' + r.exitCode);`;
    const result = spawnSync('script', ['-qec', `node --input-type=module -e ${shellQuote(program)}`, '/dev/null'], { encoding: 'utf8', timeout: 20000 });
    assert.match(result.stdout, /\/dev\/pts\/0\r?\nstdin-tty\r?\nTERM=xterm\r?\n/);
    assert.match(result.stdout, /exit=4/);
  });

  it('mounts binds (ro) and tmpfs; honours a read-only rootfs', async () => {
    const host = await makeTempDir('runc-bind-');
    try {
      await writeFile(path.join(host, 'in.txt'), 'hello');
      const result = await run(['sh', '-c', 'cat /data/in.txt; touch /data/x || echo data-ro; touch /scratch/y && echo tmp-ok; touch /z || echo root-ro'], {
        readonlyRootfs: true,
        mounts: [{ type: 'bind', source: host, target: '/data', readonly: true }, { type: 'tmpfs', target: '/scratch' }],
      });
      assert.equal(result.stdout, 'hellodata-ro\ntmp-ok\nroot-ro\n');
    } finally {
      await removeTempDir(host);
    }
  });

  it('leaves no trace of its own mounts in an overlay upperdir', async () => {
    const work = await makeTempDir('runc-overlay-');
    const bare = path.join(work, 'bare');
    await mkdir(bare);
    await makeBusyboxRootfs(bare);
    const withEtc = path.join(work, 'with-etc');
    await mkdir(withEtc);
    const bindSource = await makeTempDir('runc-src-');
    try {
      for (const lower of [rootfs, bare]) {
        const overlay = await mountOverlay(path.join(work, `ov-${path.basename(lower)}`), lower);
        try {
          const rootBefore = await stat(overlay.merged);
          const result = await run(['sh', '-c', 'cat /etc/hosts >/dev/null && ls /mnt/data/deep >/dev/null && echo ok'], {
            rootfs: overlay.merged,
            mounts: [{ type: 'bind', source: bindSource, target: '/mnt/data/deep' }, { type: 'tmpfs', target: '/cache/x' }],
          });
          assert.equal(result.stdout, 'ok\n', result.stderr);
          assert.deepEqual(await readdir(overlay.upper), []);
          assert.ok(Math.abs((await stat(overlay.merged)).mtimeMs - rootBefore.mtimeMs) < 1);
        } finally {
          overlay.unmount();
        }
      }
    } finally {
      await removeTempDir(work);
      await removeTempDir(bindSource);
    }
  });
});

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
