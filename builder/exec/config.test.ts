import { strict as assert } from 'node:assert';
import { emptyImageConfig, recordStep, resolveImagePath, runEnv, setEnv } from './config.js';

describe('exec config helpers', () => {
  const paths: [string | undefined, string, string][] = [
    [undefined, 'app', '/app'],
    ['/work', 'app/', '/work/app/'],
    ['/work', '/abs', '/abs'],
    ['/work/', '../x', '/x'],
    ['/work', '.', '/work/'],
    ['/work', 'dst/.', '/work/dst/'],
    ['/work', '/app/.', '/app/'],
    ['/work', '/.', '/'],
    ['/', './a/./b/../c', '/a/c'],
  ];
  for (const [workdir, target, expected] of paths) {
    it(`resolves ${target} against ${workdir ?? '(none)'} to ${expected}`, () => {
      assert.equal(resolveImagePath(workdir, target), expected);
    });
  }

  it('sets env in place and appends new names', () => {
    assert.deepEqual(setEnv(['A=1', 'B=2'], 'A', '3'), ['A=3', 'B=2']);
    assert.deepEqual(setEnv(undefined, 'C', 'x=y'), ['C=x=y']);
  });

  it('gives RUN the build args (the planner drops those a later ENV shadows, so the rest win) and a default PATH', () => {
    const config = emptyImageConfig();
    config.config.Env = ['MODE=env'];
    const env = runEnv(config, [['MODE', 'arg'], ['VERSION', '1']]);
    assert.deepEqual(env, ['MODE=arg', 'VERSION=1', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  it('records history and diff ids without touching the parent config', () => {
    const parent = emptyImageConfig();
    const layer = { digest: 'sha256:d', diffId: 'sha256:f', size: 1, mediaType: 'x' };
    const next = recordStep(parent, 'RUN x', layer, 0);
    assert.deepEqual(parent.rootfs.diff_ids, []);
    assert.deepEqual(next.rootfs.diff_ids, ['sha256:f']);
    assert.equal(next.history?.[0]?.created, '1970-01-01T00:00:00Z');
    assert.equal(recordStep(parent, 'ENV a=b', undefined).history?.[0]?.empty_layer, true);
  });
});
