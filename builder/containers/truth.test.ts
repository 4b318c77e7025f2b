import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, removeTempDir } from '../sandbox/test-rootfs.js';
import { bootId, processStart } from './monitor.js';
import { ContainerPaths, initialState, type ContainerStateRecord } from './record.js';
import { logMayGrow, observe } from './truth.js';

/**
 * The moment between a container process's exit and conmon's exit file (conmon drains the pipes into the log and
 * fsyncs it first). Real processes stand in: a process that has exited (the container's) and a live one (conmon).
 */
describe('containers/truth logMayGrow (a follow ends only once conmon has drained the log)', function () {
  this.timeout(20000);
  let dir: string;
  let paths: ContainerPaths;
  let monitor: ChildProcess;
  let state: ContainerStateRecord;

  before(async () => {
    dir = await makeTempDir('truth-test-');
    paths = new ContainerPaths(dir, 'c1');
    await mkdir(paths.exitDir, { recursive: true });
    const gone = spawnSync('true').pid ?? 0;
    monitor = spawn('sleep', ['60'], { stdio: 'ignore' });
    const monitorPid = monitor.pid ?? 0;
    const monitorStart = await processStart(monitorPid);
    assert.ok(monitorStart, 'the stand-in monitor runs');
    state = {
      ...initialState(), status: 'running', runtimeId: 'c1-run1', pid: gone, pidStart: 'not-this-one',
      monitorPid, monitorStart, bootId: await bootId(),
    };
  });
  after(async () => {
    monitor?.kill('SIGKILL');
    if (dir) await removeTempDir(dir);
  });

  it('stays true while the process is gone and conmon lives without an exit file, though observe already says exited', async () => {
    assert.equal((await observe(paths, state)).status, 'exited', 'observe gives up after its half second');
    assert.equal(await logMayGrow(paths, state), true);
  });

  it('turns false once the exit file is written, or once conmon is gone too, or for a run that is not active', async () => {
    await writeFile(path.join(paths.exitDir, 'c1-run1'), '0');
    assert.equal(await logMayGrow(paths, state), false, 'exit file written: the log is drained');
    assert.equal(await logMayGrow(paths, { ...state, runtimeId: 'c1-run2' }), true, 'the exit file of another run does not count');
    assert.equal(await logMayGrow(paths, { ...state, runtimeId: 'c1-run2', monitorStart: 'not-this-one' }), false,
      'neither the process nor conmon lives');
    assert.equal(await logMayGrow(paths, { ...state, runtimeId: 'c1-run2', status: 'exited' }), false);
  });
});
