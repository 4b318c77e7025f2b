import { strict as assert } from 'node:assert';
import { HOUR_MS, planPrune, type PruneOptions } from './gc-plan.js';
import { parseDuration, parsePruneFilters } from './gc-options.js';
import type { BlobInfo, RecordInfo, SnapshotInfo, StoreScan } from './gc-scan.js';

const NOW = 1_700_000_000_000;
const hex = (c: string): string => c.repeat(64);
const blob = (c: string, size: number, ageMs = 2 * HOUR_MS): BlobInfo => ({ digest: `sha256:${hex(c)}`, size, changedMs: NOW - ageMs });
const snapshot = (c: string, ageMs = 2 * HOUR_MS): SnapshotInfo => ({ diffId: `sha256:${hex(c)}`, hex: hex(c), path: `/s/${hex(c)}`, changedMs: NOW - ageMs });
const record = (k: string, layer: string | undefined, lastUsedAgoMs: number): RecordInfo => ({
  key: `sha256:${hex(k)}`, file: `/c/${hex(k)}.json`, lastUsedMs: NOW - lastUsedAgoMs, size: 10, createdBy: `RUN ${k}`, valid: true,
  ...(layer ? { layer: { digest: `sha256:${hex(layer)}`, diffId: `sha256:${hex(layer)}` } } : {}),
});

/**
 * Store: image I (manifest m, config c, layer 1 with snapshot 1); records r1 → layer 1, r2 → layer 2
 * (used 2 days ago), r3 → layer 3 (used 1 h ago), r4 metadata-only (3 days ago); orphan blob 9 and
 * snapshot 9; blob 8 and snapshot 8 unreferenced but brand new.
 */
function scan(): StoreScan {
  const blobs = [blob('m', 100), blob('c', 100), blob('1', 1000), blob('2', 2000), blob('3', 3000), blob('9', 9000), blob('8', 8000, 1000)];
  const snapshots = [snapshot('1'), snapshot('2'), snapshot('3'), snapshot('9'), snapshot('8', 1000)];
  return {
    records: [record('a', '1', 1000), record('b', '2', 48 * HOUR_MS), record('d', '3', HOUR_MS), record('e', undefined, 72 * HOUR_MS)],
    blobs: new Map(blobs.map((b) => [b.digest, b])),
    snapshots: new Map(snapshots.map((s) => [s.diffId, s])),
    images: [{ manifestDigest: `sha256:${hex('m')}`, names: ['i:latest'], blobs: new Set([`sha256:${hex('m')}`, `sha256:${hex('c')}`, `sha256:${hex('1')}`]), diffIds: new Set([`sha256:${hex('1')}`]) }],
    containerImages: [],
    containerCount: 0,
    mountedSnapshots: new Set(),
    looseFiles: [],
  };
}

/** Snapshot sizes are 10× their blob's. */
const snapshotSize = (h: string): number => ({ '1': 10_000, '2': 20_000, '3': 30_000, '9': 90_000, '8': 80_000 })[h[0]!] ?? 0;

function run(options: PruneOptions, buildsActive = false) {
  const plan = planPrune(scan(), options, { snapshotSize, now: NOW, buildsActive });
  const short = (id: string): string => id.slice('sha256:'.length, 'sha256:'.length + 1);
  return {
    records: plan.records.map((r) => short(r.key)).sort().join(''),
    blobs: plan.blobs.map((b) => short(b.digest)).sort().join(''),
    snapshots: plan.snapshots.map((s) => short(s.diffId)).sort().join(''),
    freed: plan.sizeBefore - plan.sizeAfter,
  };
}

describe('gc plan', () => {
  const cases: { name: string; options: PruneOptions; buildsActive?: boolean; want: { records: string; blobs: string; snapshots: string } }[] = [
    { name: 'default: records unused for 24 h, then what nothing holds', options: {}, want: { records: 'be', blobs: '29', snapshots: '29' } },
    { name: 'until=30m also takes records used an hour ago', options: { untilMs: 30 * 60_000 }, want: { records: 'bde', blobs: '239', snapshots: '239' } },
    { name: '--all keeps the tagged image and brand-new blobs', options: { all: true }, want: { records: 'abde', blobs: '239', snapshots: '239' } },
    { name: '--all with no grace takes new garbage too', options: { all: true, graceMs: 0 }, want: { records: 'abde', blobs: '2389', snapshots: '2389' } },
    { name: 'builds running: records only', options: { all: true }, buildsActive: true, want: { records: 'abde', blobs: '', snapshots: '' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = run(c.options, c.buildsActive);
      assert.deepEqual({ records: got.records, blobs: got.blobs, snapshots: got.snapshots }, c.want);
    });
  }

  it('--keep-storage evicts least recently used records only until the size fits', () => {
    // Total: blobs 23,200 + snapshots 230,000 + records 40. Orphans 9 free 99,000 whatever happens.
    const total = 23_200 + 230_000 + 40;
    const afterOrphans = total - 99_000;
    // Evicting e (metadata, 10 B) then b (layer 2: 22,010 B) reaches this limit; d and a stay.
    const got = run({ keepStorage: afterOrphans - 20_000 });
    assert.equal(got.records, 'be');
    assert.equal(got.blobs, '29');
    assert.equal(got.freed, 99_000 + 10 + 22_010);
    // A limit below what the tagged image needs evicts every record but never the image's blobs.
    const all = run({ keepStorage: 1 });
    assert.equal(all.records, 'abde');
    assert.equal(all.blobs, '239');
  });

  it('never removes snapshots in use by a live mount or blobs of a kept container', () => {
    const s = scan();
    s.mountedSnapshots.add(`/s/${hex('9')}`);
    s.containerImages.push({ manifestDigest: 'x', names: [], blobs: new Set([`sha256:${hex('2')}`]), diffIds: new Set() });
    const plan = planPrune(s, { all: true }, { snapshotSize, now: NOW, buildsActive: false });
    assert.deepEqual(plan.blobs.map((b) => b.digest).sort(), [`sha256:${hex('3')}`, `sha256:${hex('9')}`]);
    assert.deepEqual(plan.snapshots.map((x) => x.diffId).sort(), [`sha256:${hex('2')}`, `sha256:${hex('3')}`]);
  });
});

describe('gc options', () => {
  const durations: [string, number][] = [['24h', 86_400_000], ['1h30m', 5_400_000], ['90s', 90_000], ['500ms', 500], ['2d', 172_800_000], ['0s', 0], ['60', 60_000]];
  for (const [text, ms] of durations) it(`parses duration ${text}`, () => assert.equal(parseDuration(text, 'x'), ms));
  for (const bad of ['', 'h', '10x', '1h 2m', '-1h']) {
    it(`rejects duration "${bad}"`, () => assert.throws(() => parseDuration(bad, 'x'), /invalid x/));
  }
  it('parses --filter until=… and rejects other filters', () => {
    assert.equal(parsePruneFilters(['until=10m']), 600_000);
    assert.equal(parsePruneFilters([]), undefined);
    assert.throws(() => parsePruneFilters(['label=x']), { code: 'INVALID_ARGUMENT' });
  });
});
