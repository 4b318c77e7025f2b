import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { DetachKeyFilter, parseDetachKeys } from './detach-keys.js';

async function filtered(keys: string, chunks: string[]): Promise<{ out: string; detached: boolean }> {
  const filter = new DetachKeyFilter(parseDetachKeys(keys));
  let detached = false;
  filter.once('detach', () => { detached = true; });
  Readable.from(chunks.map((c) => Buffer.from(c, 'latin1'))).pipe(filter);
  let out = '';
  for await (const chunk of filter) out += (chunk as Buffer).toString('latin1');
  return { out, detached };
}

describe('detach keys (docker\'s --detach-keys)', () => {
  for (const [spec, bytes] of [['ctrl-p,ctrl-q', [16, 17]], ['ctrl-a,x', [1, 120]], ['ctrl-@,ctrl-[,ctrl-_', [0, 27, 31]], ['', []]] as const) {
    it(`parses "${spec}"`, () => assert.deepEqual([...parseDetachKeys(spec)], bytes));
  }
  for (const bad of ['ctrl-1', 'ctrl-', 'alt-x', 'xy']) {
    it(`refuses "${bad}"`, () => assert.throws(() => parseDetachKeys(bad), /invalid detach keys/));
  }
  it('passes bytes through and stops at the sequence, which is not forwarded', async () => {
    assert.deepEqual(await filtered('ctrl-p,ctrl-q', ['ls\r', '\x10', '\x11', 'after']), { out: 'ls\r', detached: true });
  });
  it('forwards a broken start of the sequence', async () => {
    assert.deepEqual(await filtered('ctrl-p,ctrl-q', ['a\x10b', '\x10\x10\x11']), { out: 'a\x10b\x10', detached: true });
  });
  it('never detaches with an empty sequence (no TTY)', async () => {
    assert.deepEqual(await filtered('', ['\x10\x11x']), { out: '\x10\x11x', detached: false });
  });
});
