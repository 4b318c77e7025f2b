import { strict as assert } from 'node:assert';
import { BENCHMARKS_HEADER, formatDuration, median, renderCaseRatios, renderTable, replaceSection } from './report.js';

describe('bench report', () => {
  it('takes the median of odd and even sample counts', () => {
    const cases: Array<[number[], number]> = [
      [[3], 3],
      [[5, 1, 3], 3],
      [[4, 1, 3, 2], 2.5],
      [[10, 10, 1000], 10],
    ];
    for (const [values, expected] of cases) assert.equal(median(values), expected, values.join(','));
    assert.throws(() => median([]), RangeError);
  });

  it('formats durations in ms below a second, else seconds', () => {
    assert.equal(formatDuration(31.4), '31 ms');
    assert.equal(formatDuration(1234), '1.23 s');
  });

  it('renders times and ours/theirs ratios, with reasons where a tool did not run', () => {
    const table = renderTable(
      [
        { toolId: 'builder', label: 'ours' },
        { toolId: 'buildkit', label: 'BuildKit' },
        { toolId: 'buildah', label: 'buildah' },
      ],
      [
        {
          title: 'small',
          outcomes: [
            { status: 'ok', samplesMs: [900, 1000, 5000] },
            { status: 'ok', samplesMs: [2000] },
            { status: 'skipped', reason: 'not installed' },
          ],
        },
      ],
    );
    const lines = table.split('\n');
    assert.equal(lines[0], '| bench | ours | BuildKit | buildah | ours / BuildKit | ours / buildah |');
    assert.equal(lines[1], '| --- | ---: | ---: | ---: | ---: | ---: |');
    assert.equal(lines[2], '| small | 1.00 s | 2.00 s | not installed | 0.50× | – |');
  });

  it('gives every column of ours its ratios against every peer, not against each other', () => {
    const ok = (ms: number) => ({ status: 'ok' as const, samplesMs: [ms] });
    const table = renderTable(
      [
        { toolId: 'builder', label: 'ours' },
        { toolId: 'builder-daemon', label: 'ours via daemon', ours: true },
        { toolId: 'buildkit', label: 'BuildKit' },
        { toolId: 'buildah', label: 'buildah' },
      ],
      [{ title: 'c', outcomes: [ok(2200), ok(2100), ok(2000), { status: 'failed', reason: 'failed' }] }],
    );
    const lines = table.split('\n');
    assert.equal(lines[0], '| bench | ours | ours via daemon | BuildKit | buildah | ours / BuildKit | ours / buildah | ours via daemon / BuildKit | ours via daemon / buildah |');
    assert.equal(lines[2], '| c | 2.20 s | 2.10 s | 2.00 s | failed | 1.10× | – | 1.05× | – |');
  });

  it('appends a new section under the header, then replaces only that section', () => {
    const first = replaceSection('', 'cold-build', '## Cold\nv1');
    assert.ok(first.startsWith(BENCHMARKS_HEADER));
    assert.match(first, /<!-- bench:cold-build:begin -->\n## Cold\nv1\n<!-- bench:cold-build:end -->\n$/);

    const withOther = replaceSection(`${first}\nHand-written notes.\n`, 'push', '## Push\np1');
    const replaced = replaceSection(withOther, 'cold-build', '## Cold\nv2');
    assert.ok(replaced.includes('## Cold\nv2') && !replaced.includes('v1'));
    assert.ok(replaced.includes('Hand-written notes.'));
    assert.ok(replaced.includes('<!-- bench:push:begin -->\n## Push\np1\n<!-- bench:push:end -->'));
    assert.equal(replaced.match(/bench:cold-build:begin/g)?.length, 1);
  });
  it('gives the ratio of two rows per column, leaving out columns where either row has no time', () => {
    const columns = [
      { toolId: 'builder', label: 'ours' },
      { toolId: 'builder-daemon', label: 'ours via warm daemon', ours: true },
      { toolId: 'buildkit', label: 'BuildKit' },
    ];
    const rows = [
      { title: 'three stages', id: 'concurrent-stages', outcomes: [
        { status: 'ok' as const, samplesMs: [2100, 2200, 9000] },
        { status: 'failed' as const, reason: 'failed' },
        { status: 'ok' as const, samplesMs: [2300] },
      ] },
      { title: 'one stage', id: 'one-stage', outcomes: [
        { status: 'ok' as const, samplesMs: [2000] },
        { status: 'ok' as const, samplesMs: [2000] },
        { status: 'ok' as const, samplesMs: [2000, 2200] },
      ] },
    ];
    const ratio = { of: 'concurrent-stages', to: 'one-stage', label: 'three / one' };
    assert.deepEqual(renderCaseRatios(columns, rows, [ratio]), ['three / one: ours 1.10×, BuildKit 1.10×']);
    // A case left out by --only: no line.
    assert.deepEqual(renderCaseRatios(columns, rows.slice(0, 1), [ratio]), []);
  });
});
