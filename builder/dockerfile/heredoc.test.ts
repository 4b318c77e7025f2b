/** Heredoc markers as BuildKit's parser finds them (facts of its TestHeredocsFromLine and TestParseHeredocHelpers). */
import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { findHeredocMarkers, heredocWords } from './heredoc.js';

describe('dockerfile/heredoc markers', () => {
  const cases: [string, [string, boolean, boolean][]][] = [
    // [args, [name, chomp, expand][]]
    ['<<EOF', [['EOF', false, true]]],
    ['<<-EOF', [['EOF', true, true]]],
    ["<<'EOF'", [['EOF', false, false]]],
    ['<<"EOF"', [['EOF', false, false]]],
    ['<<-"EOF"', [['EOF', true, false]]],
    ['<<EO"F"', [['EOF', false, false]]],
    ['<<E\\OF', [['EOF', false, true]]],
    ['4<<EOF', [['EOF', false, true]]],
    // the lexer keeps the whitespace after << with the next word
    ['<< EOF', [['EOF', false, true]]],
    ['cat << EOF > /x', [['EOF', false, true]]],
    ['<< -EOF', [['-EOF', false, true]]],
    // <<- then a space: the word is `<<-` alone, which names nothing
    ['<<- EOF', []],
    ['<<EOF <<EOF2', [['EOF', false, true], ['EOF2', false, true]]],
    ["'<<EOF'", []],
    ['"<<EOF"', []],
    ['<<', []],
    ['<EOF', []],
    ['<<<EOF', []],
    ['\\<<EOF', []],
  ];
  for (const [args, expected] of cases) {
    it(`${JSON.stringify(args)} → ${JSON.stringify(expected.map((m) => m[0]))}`, () => {
      assert.deepEqual(findHeredocMarkers(args, '\\').map((m) => [m.name, m.chomp, m.expand]), expected);
    });
  }

  it('joins `<<` and the next word, not an escaped one', () => {
    assert.deepEqual(heredocWords('cat << EOF /dest', '\\'), ['cat', '<< EOF', '/dest']);
    assert.deepEqual(heredocWords('a\\<< b', '\\'), ['a\\<<', 'b']);
    assert.deepEqual(heredocWords('x <<', '\\'), ['x', '<<']);
  });

  it('refuses a name with an unbalanced quote', () => {
    for (const args of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) {
      assert.throws(() => findHeredocMarkers(args, '\\'), (err: unknown) => err instanceof BuildError, args);
    }
  });
});
