import { strict as assert } from 'node:assert';
import { applySymbolicMode } from './chmod.js';

describe('context/chmod symbolic modes', () => {
  it('applies chmod(1) clauses to a file\'s own mode', () => {
    const table: [string, number, boolean, number][] = [
      ['u+x', 0o644, false, 0o744], ['go-w', 0o666, false, 0o644], ['a=r', 0o755, false, 0o444],
      ['u=rwx,g=rx,o=', 0o644, false, 0o750], ['+x', 0o644, false, 0o755], ['a+X', 0o644, false, 0o644],
      ['a+X', 0o744, false, 0o755], ['a+X', 0o700, true, 0o711], ['u+s', 0o755, false, 0o4755], ['g+s', 0o755, true, 0o2755],
      ['+t', 0o777, true, 0o1777], ['o-rwx', 0o777, false, 0o770], ['u-w+x', 0o644, false, 0o544],
    ];
    for (const [spec, mode, isDir, expected] of table) {
      assert.equal(applySymbolicMode(spec, mode, isDir).toString(8), expected.toString(8), `${spec} on ${mode.toString(8)}`);
    }
  });
});
