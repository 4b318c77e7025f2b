import { strict as assert } from 'node:assert';
import type { Step } from '../builder/dockerfile/types.js';
import { cacheKey, canonicalJson } from './key.js';

const run = (command: string, line = 2, buildArgs: [string, string][] = []): Step => ({
  op: 'RUN', line, endLine: line, source: `RUN ${command}`, form: 'shell', args: [command], heredocs: [], mounts: [], buildArgs,
});

describe('cache key', () => {
  it('is canonical: object key order does not matter', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 4, e: 5 }] } }), canonicalJson({ a: { c: [3, { e: 5, f: 4 }], d: 2 }, b: 1 }));
  });

  it('ignores where the instruction was written', () => {
    assert.equal(cacheKey({ parent: 'sha256:p', step: run('make', 2) }), cacheKey({ parent: 'sha256:p', step: run('make', 9) }));
  });

  const base = { parent: 'sha256:p', step: run('make'), inputsDigest: 'sha256:i' };
  const changes: [string, Parameters<typeof cacheKey>[0]][] = [
    ['parent', { ...base, parent: 'sha256:q' }],
    ['command', { ...base, step: run('make all') }],
    ['visible build arg', { ...base, step: run('make', 2, [['VERSION', '2']]) }],
    ['inputs', { ...base, inputsDigest: 'sha256:j' }],
    ['no inputs', { ...base, inputsDigest: undefined }],
  ];
  for (const [what, input] of changes) {
    it(`changes when the ${what} changes`, () => {
      assert.notEqual(cacheKey(input), cacheKey(base));
      assert.match(cacheKey(input), /^sha256:[0-9a-f]{64}$/);
    });
  }
});
