import { strict as assert } from 'node:assert';
import type { ImageConfig } from '../builder/image/types.js';
import { cloneConfig, recordStep, setEnv } from '../builder/exec/config.js';
import { applyDelta, diffConfig } from './config-delta.js';

const base = (): ImageConfig => ({
  architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z',
  config: { Env: ['PATH=/bin', 'A=1'], Labels: { keep: 'yes', drop: 'x' }, Cmd: ['sh'], WorkingDir: '/' },
  rootfs: { type: 'layers', diff_ids: ['sha256:aa'] },
  history: [{ created: '2024-01-01T00:00:00Z', created_by: 'FROM x' }],
});

/** Each case changes a copy of the base config the way a step would. */
const cases: [string, (c: ImageConfig) => ImageConfig][] = [
  ['ENV replaces in place and appends', (c) => { c.config.Env = setEnv(setEnv(c.config.Env, 'A', '2'), 'B', '3'); return c; }],
  ['LABEL adds and a removed label goes', (c) => { c.config.Labels = { keep: 'yes', added: 'new' }; return c; }],
  ['ENTRYPOINT drops CMD to null', (c) => { c.config.Entrypoint = ['/run']; c.config.Cmd = null; return c; }],
  ['a removed field', (c) => { delete c.config.WorkingDir; return c; }],
  ['a layer and a history entry', (c) => recordStep(c, 'RUN make', { digest: 'sha256:bb', diffId: 'sha256:cc', size: 1, mediaType: 'x' })],
  ['top-level author', (c) => ({ ...c, author: 'me' })],
  ['history rewritten (not an append)', (c) => ({ ...c, history: [{ created_by: 'other' }] })],
  ['Env reordered (not set-by-name)', (c) => { c.config.Env = ['A=1', 'PATH=/bin']; return c; }],
  ['nothing changed', (c) => c],
];

describe('config deltas (cache records linear in steps)', () => {
  for (const [name, change] of cases) {
    it(`round-trips: ${name}`, () => {
      const before = base();
      const after = change(cloneConfig(before));
      const delta = diffConfig(before, after);
      assert.deepEqual(applyDelta(before, JSON.parse(JSON.stringify(delta))), after);
      assert.deepEqual(before, base(), 'the parent config is untouched');
    });
  }

  it('a step deep in a long Dockerfile records only its own change', () => {
    let config = base();
    let largest = 0;
    for (let i = 0; i < 2000; i++) {
      const next = cloneConfig(config);
      next.config.Env = setEnv(next.config.Env, `V${i}`, String(i));
      const after = recordStep(next, `ENV V${i}=${i}`, undefined);
      const delta = diffConfig(config, after);
      largest = Math.max(largest, JSON.stringify(delta).length);
      config = applyDelta(config, delta);
      assert.equal(config.config.Env!.length, i + 3);
    }
    assert.ok(largest < 200, `largest delta ${largest} bytes`);
    assert.equal(config.history!.length, 2001);
  });
});
