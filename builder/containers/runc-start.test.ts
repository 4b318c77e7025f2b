import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { RUNC_ROOT, writeBundle } from '../sandbox/runc.js';
import { makeBusyboxRootfs, makeTempDir, removeTempDir } from '../sandbox/test-rootfs.js';
import { startThroughExecFifo } from './runc-start.js';

function runc(args: string[]): { status: number | null; stdout: string } {
  const result = spawnSync('runc', ['--root', RUNC_ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return { status: result.status, stdout: result.stdout };
}

function runcStatus(id: string): { status: string; pid: number } {
  return JSON.parse(runc(['state', id]).stdout) as { status: string; pid: number };
}

describe('containers/runc-start startThroughExecFifo', function () {
  this.timeout(30000);
  let dir: string;
  const ids: string[] = [];
  before(async function () {
    if (process.getuid?.() !== 0 || spawnSync('runc', ['--version']).status !== 0) {
      console.log('    (skipped: needs root and runc)');
      this.skip();
    }
    dir = await makeTempDir('runc-start-test-');
    await chmod(dir, 0o755);
    await makeBusyboxRootfs(path.join(dir, 'rootfs'), { passwd: 'root:x:0:0:root:/root:/bin/sh\n', group: 'root:x:0:\n' });
  });
  after(async () => {
    for (const id of ids) runc(['delete', '--force', id]);
    if (dir) await removeTempDir(dir);
  });

  /** A created (not started) container running `sleep 30` once started; returns its runtime id and init pid. */
  async function created(name: string): Promise<{ id: string; pid: number }> {
    const id = `builder-test-${name}-${process.pid}`;
    const bundle = path.join(dir, name);
    await mkdir(bundle);
    await writeBundle({ id, rootfs: path.join(dir, 'rootfs'), args: ['sleep', '30'], env: [], cwd: '/', user: '', network: 'none', stdio: 'pipe' }, bundle);
    ids.push(id);
    assert.equal(spawnSync('runc', ['--root', RUNC_ROOT, 'create', '--bundle', bundle, id], { stdio: 'ignore' }).status, 0, 'runc create');
    const state = runcStatus(id);
    assert.equal(state.status, 'created');
    return { id, pid: state.pid };
  }

  it('starts a created container as runc start does: runc then reports it running', async () => {
    const { id, pid } = await created('alive');
    assert.equal(await startThroughExecFifo(id, pid), true);
    assert.equal(runcStatus(id).status, 'running');
  });

  it('fails as runc does when the container process died before the start, without hanging', async () => {
    const { id, pid } = await created('dead');
    process.kill(pid, 'SIGKILL');
    await assert.rejects(startThroughExecFifo(id, pid), /container process is already dead/);
  });

  it('does nothing and says so when runc keeps no exec fifo there', async () => {
    assert.equal(await startThroughExecFifo(`builder-test-missing-${process.pid}`, 1), false);
  });
});
