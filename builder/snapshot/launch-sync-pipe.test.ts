/** The perl helper's launch request (conmon's path): detached, exact env, fd 3 relayed back, stderr to a file. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchWithSyncPipe } from './mount-syscall.js';

/** Waits until `file` has content (the launched program writes it after the reply). */
async function readWhenWritten(file: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes('\n')) return text;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${file} was never written`);
}

describe('snapshot/mount-syscall launchWithSyncPipe', function () {
  let dir = '';
  before(function () {
    if (process.getuid?.() !== 0) {
      console.log('    skipped: the helper runs for root only');
      this.skip();
    }
    if (spawnSync('perl', ['-e', '1']).status !== 0) {
      console.log('    skipped: no perl (conmon is spawned directly)');
      this.skip();
    }
  });
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'launch sync ')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('runs the program in its own session with exactly the given env, relays fd 3 up to its first "}", keeps stderr in a file', async () => {
    const out = join(dir, 'out');
    const err = join(dir, 'err');
    // After the reply the program keeps running: it writes its parent and session (from /proc), then its env.
    const script = 'printf \'{"data": %d}\' $$ >&3; exec 3>&-; sleep 0.2; ' +
      `{ cut -d' ' -f4,6 /proc/$$/stat; env; } > '${out}.tmp'; mv '${out}.tmp' '${out}'; echo oops >&2`;
    const result = await launchWithSyncPipe('/bin/sh', ['-c', script], { ONLY: 'this', WITH: 'equals=in value' }, err);
    assert.equal(result?.errno, 0);
    const pid = Number(/^\{"data": (\d+)\}$/.exec(result!.message)?.[1]);
    assert.ok(pid > 0, `a pid came back: ${result!.message}`);
    const [ids, ...env] = (await readWhenWritten(out)).trim().split('\n');
    const [parent, session] = ids!.split(' ');
    assert.equal(session, String(pid), 'a session of its own');
    assert.notEqual(Number(parent), process.pid, 'not our child');
    assert.ok(env.includes('ONLY=this') && env.includes('WITH=equals=in value'), env.join(' '));
    assert.ok(!env.some((line) => line.startsWith('PATH=')), 'nothing of our environment');
    for (let i = 0; i < 200 && !(await readFile(err, 'utf8').catch(() => '')).includes('oops'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(await readFile(err, 'utf8'), 'oops\n');
  });

  it('gives an empty message and the reason in the stderr file when the program cannot run', async () => {
    const err = join(dir, 'err');
    const result = await launchWithSyncPipe(join(dir, 'missing'), [], {}, err);
    assert.deepEqual(result, { errno: 0, message: '' });
    assert.match(await readFile(err, 'utf8'), /cannot run .*missing: No such file or directory/);
  });

  it('ends the reply when the program closes fd 3 without a message', async () => {
    const result = await launchWithSyncPipe('/bin/sh', ['-c', 'exec 3>&-; sleep 0.1'], {}, join(dir, 'err'));
    assert.deepEqual(result, { errno: 0, message: '' });
  });
});
