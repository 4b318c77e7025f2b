import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { STEP_LOG_LIMIT, type BuildEvent } from '../events.js';
import { BuildError } from '../errors.js';
import { BuildSession } from './session.js';

describe('BuildSession', () => {
  it('clips a step log once, at the limit, with one note; other steps keep theirs', () => {
    const events: BuildEvent[] = [];
    const session = new BuildSession((e) => events.push(e));
    const chunk = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 4; i++) session.emit({ type: 'step.log', stepId: '#1', stream: 'stdout', data: chunk, time: 0 });
    session.emit({ type: 'step.log', stepId: '#2', stream: 'stdout', data: 'other\n', time: 0 });
    const first = events.filter((e) => e.type === 'step.log' && e.stepId === '#1') as Extract<BuildEvent, { type: 'step.log' }>[];
    assert.equal(first.slice(0, 2).reduce((n, e) => n + e.data.length, 0), STEP_LOG_LIMIT);
    assert.equal(first.length, 3);
    assert.match(first[2]!.data, /output clipped, log limit 2MiB reached/);
    assert.ok(events.some((e) => e.type === 'step.log' && e.stepId === '#2'));
  });

  it('warns once per distinct message, as a warning event', () => {
    const events: BuildEvent[] = [];
    const session = new BuildSession((e) => events.push(e));
    session.warn('Redis is down');
    session.warn('Redis is down');
    session.warn('registry is down');
    assert.deepEqual(events.map((e) => e.type === 'warning' && e.message), ['Redis is down', 'registry is down']);
  });

  it('memoizes per build, forgets failures, and runs cleanups when closed', async () => {
    const session = new BuildSession(() => {});
    let calls = 0;
    const fetch = (): Promise<number> => session.memo('k', async () => { calls++; if (calls === 1) throw new Error('flaky'); return calls; });
    await assert.rejects(fetch(), /flaky/);
    assert.equal(await fetch(), 2);
    assert.equal(await fetch(), 2, 'the success is kept');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'session-'));
    session.removeAtEnd(dir);
    await session.close();
    assert.equal(existsSync(dir), false);
  });

  it('checkpoint lets the event loop run and throws CANCELLED once aborted', async () => {
    const abort = new AbortController();
    const session = new BuildSession(() => {}, abort.signal);
    let ticked = false;
    setImmediate(() => { ticked = true; });
    for (let i = 0; i < 64; i++) await session.checkpoint();
    assert.equal(ticked, true, 'a macrotask ran during a loop of synchronous steps');
    abort.abort();
    await assert.rejects(session.checkpoint(), (err: unknown) => err instanceof BuildError && err.code === 'CANCELLED');
  });

  it('later() work runs beside the build and is awaited (its failures swallowed) before cleanups run', async () => {
    const session = new BuildSession(() => {});
    const order: string[] = [];
    let release!: () => void;
    session.later(new Promise<void>((resolve) => { release = resolve; }).then(() => {
      order.push('later');
      // Work handed on by later work is waited for too.
      session.later(Promise.resolve().then(() => order.push('handed on')));
    }));
    session.later(Promise.reject(new Error('a miss record could not be written')));
    session.onCleanup(async () => { order.push('cleanup'); });
    const closing = session.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [], 'close waits for the pending work');
    release();
    await closing;
    assert.deepEqual(order, ['later', 'handed on', 'cleanup']);
  });
});
