/**
 * The expander against the facts of BuildKit's shell lexer tables (frontend/dockerfile/shell envVarTest, wordsTest
 * and the ProcessWithMatches cases): each row is input → BuildKit's result, or an error.
 */
import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { expandWord, expandWords } from './expand.js';

const ERROR = Symbol('error');
type Row = [string, string | typeof ERROR];

function check(rows: Row[], env: Record<string, string>): void {
  for (const [input, expected] of rows) {
    const label = expected === ERROR ? 'an error' : JSON.stringify(expected);
    it(`${JSON.stringify(input)} → ${label}`, () => {
      if (expected === ERROR) {
        assert.throws(() => expandWord(input, env), (err: unknown) => err instanceof BuildError);
      } else {
        assert.equal(expandWord(input, env), expected);
      }
    });
  }
}

describe('dockerfile/expand: BuildKit lexer parity', () => {
  describe('quotes, escapes and names (PWD=/home SHELL=bash NULL=)', () => {
    check([
      ["he'll'o", 'hello'],
      ["he'llo", ERROR],
      ["he\\'llo", "he'llo"],
      ["he\\\\'llo", ERROR],
      ['abc\\tdef', 'abctdef'],
      ['"abc\\tdef"', 'abc\\tdef'],
      ['"abc\\\\tdef"', 'abc\\tdef'],
      ["'abc\\tdef'", 'abc\\tdef'],
      // a lone escape at the end of the word is dropped, an escaped one is kept
      ['hello\\', 'hello'],
      ['hello\\\\', 'hello\\'],
      ['"hello\\"', ERROR],
      ["'hello\\'", 'hello\\'],
      ['"\'\'"', "''"],
      ['$.', '$.'],
      ['he$.x', 'he$.x'],
      // a name starting with a digit is a positional parameter: digits only, never set
      ['he$1x', 'hex'],
      ['$999aaa', 'aaa'],
      ['${001:-bbb}aaa', 'bbbaaa'],
      ['${9:+bbb}', ''],
      ['he$pwd.', 'he.'],
      ['he\\\\$PWD', 'he\\/home'],
      ['"he\\\\$PWD"', 'he\\/home'],
      ['\\${}aaa', '${}aaa'],
      ['he${}xx', ERROR],
      ['he${.}', ERROR],
      ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
      ['he${XXX:YYY}', ERROR],
      ['he${XXX?}', ERROR],
      ['he${PWD?}', 'he/home'],
      ['he${NULL?}', 'he'],
      ['he${NULL:?}', ERROR],
      ['he${PWD:+${SHELL}}xx', 'hebashxx'],
      ['"he\'$PWD\'"', "he'/home'"],
      ["'\\$PWD'", '\\$PWD'],
      ['he${PWD:=000}xx', ERROR],
      ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
      ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'],
      ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
      ['${{aaa}', ERROR],
      ['${aaa}}', '}'],
      ['${aaa:-bbb}}', 'bbb}'],
      ['${aaa:-bbb ${foo}', ERROR],
      ['${aaa:-bbb {foo}', 'bbb {foo'],
      ['${:}', ERROR],
      ['${:-bbb}', ERROR],
      // special parameters are names too, and never set in a Dockerfile
      ['$@', ''],
      ['$@@@', '@@'],
      ['${@:-bbb}aaa', 'bbbaaa'],
      ['${*:+bbb}', ''],
      ['$#', ''],
      ['${?:-bbb}', 'bbb'],
      ['$-', ''],
      ['$$', ''],
      ['${$:-bbb}', 'bbb'],
      ['$!', ''],
      ['${0:-bbb}', 'bbb'],
      // Unicode letters are name characters
      ['안녕$KOREAN', '안녕한국어'],
      ['$KOREAN말', ''],
      ["안'녕'하세요", '안녕하세요'],
      ['안녕하세요\\', '안녕하세요'],
    ], { PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' });
  });

  describe('the ? modifier says unset or empty', () => {
    it('names the variable and the reason', () => {
      assert.throws(() => expandWord('${V:?}', { V: '' }), /V: is not allowed to be empty/);
      assert.throws(() => expandWord('${V:?}', {}), /V: is not allowed to be unset/);
      assert.throws(() => expandWord('${V?message here$A}', { A: 'x' }), /V: message herex/);
      assert.equal(expandWord('${V?message}', { V: '' }), '');
    });
  });

  describe('patterns: # ## % %% / // (raw escapes, no bracket expressions)', () => {
    const rows: [string, Record<string, string>, string | typeof ERROR][] = [
      ['${FOO#()[]{\\}^$.\\*\\?|\\\\}', { FOO: '()[]{}^$.*?|\\x' }, 'x'],
      ['${FOO#[ab]}', { FOO: '[ab]c' }, 'c'],
      ['${FOO#[ab]}', { FOO: 'ac' }, 'ac'],
      ['${FOO%%\\**}', { FOO: 'xx**' }, 'xx'],
      ['${FOO%%\\**\\*}', { FOO: 'a***yy*' }, 'a'],
      ['${FOO#*x*y}', { FOO: 'xxyy' }, 'y'],
      ['${FOO#*}', { FOO: 'xxyy' }, 'xxyy'],
      ['${FOO##*}', { FOO: 'xxyy' }, ''],
      ['${FOO#$BAR}', { FOO: 'xxyy', BAR: 'x' }, 'xyy'],
      // the greedy ## is read from the expanded word
      ['${FOO#$BAR}', { FOO: 'xxyy', BAR: '#*x' }, 'yy'],
      ['${FOO#?\\?}', { FOO: '???y' }, '?y'],
      ['${ABC:-.}${FOO%x}${ABC:-.}', { FOO: 'xxyy' }, '.xxyy.'],
      ['${FOO#\\x}', { FOO: 'x' }, ERROR],
      ['${FOO#\\$}', { FOO: '$' }, ERROR],
      ['${FOO:#}', {}, ERROR],
      ['${FOO:%%}', {}, ERROR],
      ['${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' }, '/foo.*/*.txt - /foo..*.txt'],
      ['${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}', { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' }, '/tmp/bar.txt - /bar.txt'],
      ['${FOO//$N/$R}', { FOO: '/a/foo/b/c.txt', N: '/?/', R: '/' }, '/foo/c.txt'],
      ['${FOO/$N/$R}', { FOO: 'http://google.de', N: 'http://', R: 'https://' }, 'https://google.de'],
      // an escaped separator matches a /, and the replacement keeps its escapes
      ['${FOO//\\//\\/}', { FOO: '/tmp/foo.txt' }, '\\/tmp\\/foo.txt'],
      ['${FOO/$BAR/ww}', { FOO: 'xxyy', BAR: '' }, 'wwxxyy'],
      ['${FOO///}', { FOO: 'xxyy' }, 'xxyy'],
      ['${FOO///}', {}, ''],
      ['${FOO//ww}', { FOO: 'xxyy' }, ERROR],
      ['${FOO//}', { FOO: 'xxyy' }, ERROR],
      ['${FOO/x}', { FOO: 'xxyy' }, ERROR],
      // the replacement is a Go regexp template: $0 is the match
      ['${FOO/y/$R}', { FOO: 'xxyy', R: '<$0>' }, 'xx<y>y'],
    ];
    for (const [input, env, expected] of rows) {
      it(`${JSON.stringify(input)} with ${JSON.stringify(env)} → ${expected === ERROR ? 'an error' : JSON.stringify(expected)}`, () => {
        if (expected === ERROR) assert.throws(() => expandWord(input, env), (err: unknown) => err instanceof BuildError);
        else assert.equal(expandWord(input, env), expected);
      });
    }

    it('a pattern under the backtick escape keeps the backtick as a literal character', () => {
      assert.equal(expandWord('${FOO#`*}', { FOO: '`*x' }, '`'), '*x');
    });
  });

  describe('word splitting (wordsTest)', () => {
    const env = { hi: 'hi', space: 'abc  def', leading: '  ab c', trailing: 'ab c   ' };
    const rows: [string, string[] | typeof ERROR][] = [
      ['hello${hi}bye', ['hellohibye']],
      ['hello${space}bye', ['helloabc', 'defbye']],
      ['hello"${space}"bye', ['helloabc  defbye']],
      ['hello "${space}"bye', ['hello', 'abc  defbye']],
      ['hello${leading}def', ['hello', 'ab', 'cdef']],
      ['hello"${leading}" def', ['hello  ab c', 'def']],
      ['hello${trailing}d', ['helloab', 'c', 'd']],
      ['hel"lo${trailing}"', ['helloab c   ']],
      ['hello" there  "', ['hello there  ']],
      ['hello\\ there', ['hello there']],
      ['hello" there', ERROR],
      ['hello\\" there', ['hello"', 'there']],
      ['hello"\\\\there"', ['hello\\there']],
      ['hello"\\there"', ['hello\\there']],
      ["hello'\\\\there'", ['hello\\\\there']],
      ["hello'$there'", ['hello$there']],
    ];
    for (const [input, expected] of rows) {
      it(`${JSON.stringify(input)} → ${expected === ERROR ? 'an error' : JSON.stringify(expected)}`, () => {
        if (expected === ERROR) assert.throws(() => expandWords(input, env), (err: unknown) => err instanceof BuildError);
        else assert.deepEqual(expandWords(input, env), expected);
      });
    }
  });
});
