import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { prepareLaunch, type RuntimeChild } from './launch-server.js';
import { LAUNCH_SERVER_SCRIPT } from './launch-server-script.js';

interface Outcome { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function collect(child: RuntimeChild): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal, stdout, stderr }));
  });
}

async function launch(command: string, argv: string[]): Promise<RuntimeChild> {
  const prepared = prepareLaunch();
  assert.ok(prepared, 'the launch server is available (perl-base is Essential on Debian)');
  const child = await prepared.start(command, argv);
  assert.ok(child, 'the server launched it');
  return child;
}

describe('sandbox/launch-server', function () {
  this.timeout(20000);
  before(function () {
    if (spawnSync('perl', ['-e', '1']).status !== 0) {
      console.log('    (skipped: no perl)');
      this.skip();
    }
  });

  it('gives the program its own stdout and stderr, /dev/null as stdin, its exit code', async () => {
    const result = await collect(await launch('/bin/sh', ['-c', 'echo out; echo err >&2; read line || echo eof; exit 3']));
    assert.deepEqual(result, { code: 3, signal: null, stdout: 'out\neof\n', stderr: 'err\n' });
  });

  it('reports a signal death and delivers kill() to the pid; the program leads its own session', async () => {
    const killed = await collect(await launch('/bin/sh', ['-c', 'kill -9 $$']));
    assert.equal(killed.signal, 'SIGKILL');
    assert.equal(killed.code, null);
    // The session id and the pid, printed by the program itself: setsid ran before the exec.
    const sleeper = await launch('/bin/sh', ['-c', 'echo $$ $(cut -d" " -f6 /proc/$$/stat); exec sleep 30']);
    const first = new Promise<string>((resolve) => sleeper.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    const done = collect(sleeper);
    const [pid, sid] = (await first).trim().split(' ');
    assert.equal(sid, pid, 'its own session');
    assert.ok(sleeper.kill('SIGTERM'));
    const result = await done;
    assert.equal(result.signal, 'SIGTERM');
    assert.equal(sleeper.kill('SIGTERM'), false, 'no signal after the exit (the pid may be reused)');
  });

  it('keeps its forks out of our session, and fails a launch whose status reporter is killed instead of waiting forever', async () => {
    const child = await launch('/bin/sh', ['-c', 'exec sleep 30']);
    const result = collect(child);
    while (child.pid === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    // The reporter is the program's parent (the server's fork that waits for it).
    const stat = (pid: number | 'self'): string[] => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const reporter = Number(stat(child.pid)[1]);
    // Not in our session or process group: a Ctrl-C at our terminal does not kill it (we kill the container).
    assert.notEqual(stat(reporter)[3], stat('self')[3]);
    assert.notEqual(stat(reporter)[2], stat('self')[2]);
    process.kill(reporter, 'SIGKILL');
    process.kill(child.pid, 'SIGKILL');
    await assert.rejects(result, /lost the process/);
  });

  it('an exec that fails is an error, as a spawn of a missing file', async () => {
    const child = await launch('/no/such/program', []);
    await assert.rejects(collect(child), /spawn \/no\/such\/program: No such file or directory \(errno 2\)/);
  });

  it('loses nothing of a large output, and ends only when every writer has closed', async () => {
    // 1 MiB, far past the pipe's buffer; a background writer keeps stdout open 0.3 s after the shell exits.
    const result = await collect(await launch('/bin/sh', ['-c', 'head -c 1048576 /dev/zero | tr "\\0" x; (sleep 0.3; echo late) & exit 0']));
    assert.equal(result.code, 0);
    assert.equal(result.stdout.length, 1048576 + 5);
    assert.ok(result.stdout.endsWith('xlate\n'));
  });

  it('keeps concurrent launches apart: one output ends while another program still runs', async () => {
    // Both pipe pairs exist before either launch, so the first launch's forks must not keep the second's open.
    const slow = prepareLaunch()!;
    const quick = prepareLaunch()!;
    const slowChild = await slow.start('/bin/sh', ['-c', 'echo slow; sleep 2']);
    const quickChild = await quick.start('/bin/sh', ['-c', 'echo quick']);
    assert.ok(slowChild && quickChild);
    const order: string[] = [];
    const results = await Promise.all([
      collect(slowChild).then((r) => { order.push('slow'); return r; }),
      collect(quickChild).then((r) => { order.push('quick'); return r; }),
    ]);
    assert.deepEqual(order, ['quick', 'slow']);
    assert.deepEqual(results.map((r) => r.stdout), ['slow\n', 'quick\n']);
  });

  it('a discarded launch runs nothing and leaves no process; BUILDER_LAUNCH_SERVER=off turns the server off', async () => {
    // The server is our child running its script; what it forked for prepared launches are its descendants.
    const parents = (): Map<number, number> => new Map(readdirSync('/proc').filter((name) => /^\d+$/.test(name)).flatMap((name) => {
      try {
        return [[Number(name), Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])] as [number, number]];
      } catch {
        return [];
      }
    }));
    const descendants = (root: number): number => {
      const tree = parents();
      let count = 0;
      for (const pid of tree.keys()) for (let up = tree.get(pid); up !== undefined && up > 1; up = tree.get(up)) if (up === root) { count++; break; }
      return count;
    };
    const prepared = Array.from({ length: 5 }, () => prepareLaunch()!);
    // Prepared after the five and kept: its processes must hold nothing of theirs (else none of them could end).
    const kept = prepareLaunch()!;
    await collect(await launch('/bin/true', []));
    // By its script: the mount helper is our child too, and its script has a setsid of its own.
    const serverPid = [...parents()].find(([pid, parent]) => parent === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[2] === LAUNCH_SERVER_SCRIPT)?.[0];
    assert.ok(serverPid, 'the launch server is our child');
    // `!== 12`, not `< 12`: the finished /bin/true launch's reporter may still be on its way out (13 for a moment).
    for (let tries = 0; tries < 100 && descendants(serverPid) !== 12; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(descendants(serverPid), 12, 'six prepared launches wait (a reporter and a program each)');
    for (const launch of prepared) launch.discard();
    for (let tries = 0; tries < 100 && descendants(serverPid) > 2; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(descendants(serverPid), 2, 'every discarded launch ended without running anything');
    kept.discard();
    for (let tries = 0; tries < 100 && descendants(serverPid) > 0; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(descendants(serverPid), 0);
    const saved = process.env.BUILDER_LAUNCH_SERVER;
    process.env.BUILDER_LAUNCH_SERVER = 'off';
    try {
      assert.equal(prepareLaunch(), undefined);
    } finally {
      if (saved === undefined) delete process.env.BUILDER_LAUNCH_SERVER;
      else process.env.BUILDER_LAUNCH_SERVER = saved;
    }
    assert.deepEqual((await collect(await launch('/bin/echo', ['after']))).stdout, 'after\n');
  });

  it('never keeps a node process up once its launches are done', () => {
    const module = fileURLToPath(new URL('./launch-server.js', import.meta.url));
    // Once the launch is done nothing of it may keep the loop up, not even a timer for a while (the CLI's exit
    // would wait for it): what holds the loop right after 'close' is printed on stderr.
    const script = `import(${JSON.stringify(module)}).then(async (m) => { const c = await m.prepareLaunch().start('/bin/echo', ['hi']); c.stdout.pipe(process.stdout);`
      + ` c.on('close', () => setImmediate(() => console.error(JSON.stringify(process.getActiveResourcesInfo())))); })`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10000 });
    assert.equal(result.status, 0, `exited by itself (not killed at the timeout): ${result.stderr}`);
    assert.equal(result.stdout, 'hi\n');
    assert.ok(!(JSON.parse(result.stderr) as string[]).includes('Timeout'), `nothing waits on a timer: ${result.stderr}`);
  });
});
