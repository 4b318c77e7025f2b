import assert from 'node:assert/strict';
import { runIdleWork, whenIdle } from './idle-work.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('store/idle-work', () => {
  it('runs a queued task once, on the turn after runIdleWork, and start() then returns the same run', async () => {
    let runs = 0;
    const task = whenIdle(async () => ++runs);
    await turn();
    assert.equal(runs, 0, 'nothing runs before the process is idle');
    runIdleWork();
    assert.equal(runs, 0, 'the caller first wires up its child');
    await turn();
    assert.equal(runs, 1);
    assert.equal(await task.start(), 1);
    runIdleWork();
    await turn();
    assert.equal(runs, 1, 'a task runs once');
  });

  it('start() runs a task that no idle moment reached, and takes it off the queue', async () => {
    let runs = 0;
    const task = whenIdle(async () => ++runs);
    assert.equal(await task.start(), 1);
    runIdleWork();
    await turn();
    assert.equal(runs, 1);
  });

  it('a task that fails while nobody waits is no unhandled rejection; start() reports the failure', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
    process.on('unhandledRejection', onUnhandled);
    try {
      const task = whenIdle(async () => { throw new Error('reap failed'); });
      runIdleWork();
      await turn();
      await turn();
      await assert.rejects(task.start(), /reap failed/);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
