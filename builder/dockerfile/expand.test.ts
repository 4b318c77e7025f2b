import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { expandHeredoc, expandHeredocBody, expandWord, expandWords } from './expand.js';

const env = { A: 'a', EMPTY: '', SP: 'x  y', PATH: '/usr/local/bin:/usr/bin', FILE: 'dir/sub/name.tar.gz' };

describe('dockerfile/expand', () => {
  const cases: [string, string][] = [
    ['$A', 'a'],
    ['${A}', 'a'],
    ['pre${A}post', 'preapost'],
    ['$UNSET', ''],
    ['${UNSET:-def}', 'def'],
    ['${EMPTY:-def}', 'def'],
    ['${EMPTY-def}', ''],
    ['${UNSET-def}', 'def'],
    ['${A:-def}', 'a'],
    ['${A:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${UNSET:-$A}', 'a'],
    ['${UNSET:-"q w"}', 'q w'],
    ['${FILE#*/}', 'sub/name.tar.gz'],
    ['${FILE##*/}', 'name.tar.gz'],
    ['${FILE%.*}', 'dir/sub/name.tar'],
    ['${FILE%%.*}', 'dir/sub/name'],
    ['${PATH/usr/opt}', '/opt/local/bin:/usr/bin'],
    ['${PATH//usr/opt}', '/opt/local/bin:/opt/bin'],
    ['\\$A', '$A'],
    ['\\${A}', '${A}'],
    ["'$A'", '$A'],
    ['"$A"', 'a'],
    ['"\\$A"', '$A'],
    ['"a\\b"', 'a\\b'],
    ['"say \\"hi\\""', 'say "hi"'],
    ['a\\ b', 'a b'],
    ['$', '$'],
    ['a$-b', 'ab'],
    ['a$.b', 'a$.b'],
    ['"x  y"', 'x  y'],
    ['  spaced  out ', '  spaced  out '],
  ];
  for (const [input, expected] of cases) {
    it(`expandWord ${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(expandWord(input, env), expected);
    });
  }

  it('accepts a Map and the backtick escape character', () => {
    assert.equal(expandWord('`$A-$A', new Map([['A', 'v']]), '`'), '$A-v');
    assert.equal(expandWord('C:\\dir\\$A', new Map([['A', 'v']]), '`'), 'C:\\dir\\v');
  });

  it('splits words on unquoted whitespace, including unquoted variable values', () => {
    assert.deepEqual(expandWords('a "b c" $SP "$SP" \'\'', env), ['a', 'b c', 'x', 'y', 'x  y', '']);
    assert.deepEqual(expandWords('  ', env), []);
  });

  it('expands heredoc bodies but keeps quotes and unrelated escapes', () => {
    // BuildKit's testCopyHeredocSpecialSymbols: every escape goes, the escaped character stays.
    assert.equal(expandHeredocBody('\\\n\\\\\n\\$A $A "$A" \'$A\' a\\b end\\', env), '\n\\\n$A a "a" \'a\' ab end');
    assert.equal(expandHeredoc('echo "$A" \'$A\' \\$A printf "\\n"\n', env), 'echo "a" \'a\' $A printf "\\n"\n');
  });

  const bad: [string, RegExp][] = [
    ["'open", /single-quote/],
    ['"open', /double-quote/],
    ['${A', /missing '}'/],
    ['${}', /bad substitution/],
    ['${A:=x}', /unsupported modifier/],
    ['${UNSET:?must be set}', /UNSET: must be set/],
  ];
  for (const [input, message] of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => expandWord(input, env), (err: unknown) => err instanceof BuildError && message.test(err.message));
    });
  }
});
