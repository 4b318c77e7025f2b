import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { containsWildcards, splitWildcards, wildcardMatch } from './wildcard.js';

describe('context/wildcard (Go filepath.Match)', () => {
  it('matches like filepath.Match', () => {
    const table: [string, string, boolean][] = [
      ['*.txt', 'a.txt', true], ['*.txt', 'd/a.txt', false], ['*/a.txt', 'd/a.txt', true],
      ['a?c', 'abc', true], ['a?c', 'a/c', false], ['[a-c]x', 'bx', true], ['[^a-c]x', 'bx', false],
      ['[^a-c]x', 'dx', true], ['\\*', '*', true], ['\\*', 'a', false], ['**', 'a/b', false], ['**', 'ab', true],
      ['a.b', 'axb', false], ['(x)', '(x)', true], ['[]a]', ']', true],
    ];
    for (const [pattern, name, expected] of table) assert.equal(wildcardMatch(pattern, name), expected, `${pattern} ~ ${name}`);
  });

  it('rejects malformed patterns', () => {
    assert.throws(() => wildcardMatch('[', 'a'), BuildError);
    assert.throws(() => wildcardMatch('a\\', 'a'), BuildError);
  });

  it('splits the literal prefix from the pattern part', () => {
    assert.deepEqual(splitWildcards('./src/a*/b'), { base: 'src', pattern: 'a*/b' });
    assert.deepEqual(splitWildcards('src/lib'), { base: 'src/lib', pattern: '' });
    assert.equal(containsWildcards('a\\*b'), false);
    assert.equal(containsWildcards('a[b]'), true);
  });
});
