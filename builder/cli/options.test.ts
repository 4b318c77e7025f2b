import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { parseBuildArgs, parseSize } from './options.js';
import { parseBuildArgs as parseBuildArgList } from '../request.js';

describe('cli options', () => {
  const sizes: [string, number][] = [['512m', 512 * 1024 ** 2], ['2g', 2 * 1024 ** 3], ['1024', 1024], ['1.5k', 1536], ['64MiB', 64 * 1024 ** 2]];
  for (const [text, bytes] of sizes) it(`parses size ${text}`, () => assert.equal(parseSize(text), bytes));

  it('rejects a bad size with a clear error', () => {
    assert.throws(() => parseSize('lots'), (err: unknown) => err instanceof BuildError && /invalid size: "lots"/.test(err.message));
  });

  it('takes --build-arg K=V and K from the environment', () => {
    assert.deepEqual(parseBuildArgs(['A=1', 'B=x=y', 'HOME_X', 'UNSET'], { HOME_X: '/h' }), { A: '1', B: 'x=y', HOME_X: '/h' });
    assert.throws(() => parseBuildArgs(['=1']), /invalid --build-arg/);
  });

  it('takes any non-empty build arg name, as buildx does (ARG accepts a-b and my.var)', () => {
    assert.deepEqual(parseBuildArgs(['a-b=1', 'my.var=2', '1st=3', 'abc.txt'], {}), { 'a-b': '1', 'my.var': '2', '1st': '3' });
  });

  it('the API form (no environment) wants NAME=VALUE, with the same parser', () => {
    assert.deepEqual(parseBuildArgList(['A=1', 'B='], { flag: 'buildarg' }), { A: '1', B: '' });
    assert.throws(() => parseBuildArgList(['A'], { flag: 'buildarg' }), /invalid buildarg "A": want NAME=VALUE/);
  });
});
