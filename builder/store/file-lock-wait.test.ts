import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { tryLock, waitLock } from './file-lock.js';

describe('cache mount lock files', function () {
  let dir = '';
  beforeEach(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), 'run-mount-lock-'));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('lets one holder in at a time and frees the lock on release', async function () {
    const file = path.join(dir, 'data.lock');
    const first = await tryLock(file);
    assert.ok(first);
    assert.equal(await readFile(file, 'utf8'), String(process.pid));
    assert.equal(await tryLock(file), undefined);
    await first.release();
    await first.release();
    const second = await tryLock(file);
    assert.ok(second);
    await second.release();
  });

  it('breaks a lock whose holder is dead', async function () {
    const file = path.join(dir, 'data.lock');
    // pid_max is at most 2^22, so this pid cannot be alive.
    await writeFile(file, '9999999');
    const held = await tryLock(file);
    assert.ok(held);
    await held.release();
  });

  it('makes waiters queue until the holder releases, and stops waiting on abort', async function () {
    const file = path.join(dir, 'data.lock');
    const first = (await tryLock(file))!;
    const order: string[] = [];
    const waiting = waitLock(file).then((lock) => { order.push('second'); return lock; });
    await new Promise((resolve) => setTimeout(resolve, 150));
    order.push('first-done');
    await first.release();
    await (await waiting).release();
    assert.deepEqual(order, ['first-done', 'second']);

    const blocker = (await tryLock(file))!;
    const abort = new AbortController();
    const aborted = waitLock(file, { signal: abort.signal });
    abort.abort();
    await assert.rejects(aborted, /cancelled/);
    await blocker.release();
  });
});
