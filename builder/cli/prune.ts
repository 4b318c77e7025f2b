import { createInterface } from 'node:readline';
import { prune, type PruneReport } from '../store/gc.js';
import { gcGraceMs } from '../store/gc-auto.js';
import { parseByteSize, parsePruneFilters } from '../store/gc-options.js';
import { Store } from '../store/store.js';
import type { GlobalOptions } from './options.js';
import { formatBytes } from './terminal.js';

/** `builder prune` flags, as `docker builder prune`. */
export interface PruneFlags {
  all?: boolean;
  keepStorage?: string;
  filter: string[];
  force?: boolean;
}

// formatBytes lives in terminal.ts so progress can use it without loading the GC; re-exported for existing callers.
export { formatBytes };

async function confirm(question: string): Promise<boolean> {
  process.stderr.write(question);
  const lines = createInterface({ input: process.stdin });
  try {
    for await (const line of lines) return /^y(es)?$/i.test(line.trim());
    return false;
  } finally {
    lines.close();
  }
}

function printReport(report: PruneReport): void {
  const out: string[] = [];
  if (report.records.length > 0) {
    out.push('Deleted build cache objects:');
    for (const record of report.records) out.push(`${record.key.slice('sha256:'.length, 'sha256:'.length + 25)}  ${record.createdBy}`.trimEnd());
  }
  if (report.blobs.length > 0) {
    out.push('Deleted blobs:');
    for (const blob of report.blobs) out.push(`deleted: ${blob.digest}`);
  }
  if (report.snapshots.length > 0) {
    out.push('Deleted snapshots:');
    for (const snapshot of report.snapshots) out.push(`deleted: ${snapshot.diffId}`);
  }
  if (report.reaped > 0) out.push(`Reaped ${report.reaped} leftover${report.reaped === 1 ? '' : 's'} of killed builds (containers, mounts, bundles)`);
  if (report.tempEntries > 0) out.push(`Removed ${report.tempEntries} stale temporary ${report.tempEntries === 1 ? 'entry' : 'entries'}`);
  if (out.length > 0) out.push('');
  out.push(`Total reclaimed space: ${formatBytes(report.reclaimed)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (report.deferred) {
    process.stderr.write('WARNING: a build is running: only cache records were removed; the blobs and snapshots they held go in the next prune\n');
  }
}

/** `builder prune`: removes cache records (least recently used first) and whatever nothing refers to any more. */
export async function pruneCommand(flags: PruneFlags, global: GlobalOptions): Promise<number> {
  const untilMs = parsePruneFilters(flags.filter);
  const keepStorage = flags.keepStorage === undefined ? undefined : parseByteSize(flags.keepStorage, '--keep-storage');
  const graceMs = gcGraceMs();
  if (!flags.force) {
    const what = flags.all ? 'all build cache' : 'unused build cache';
    if (!(await confirm(`WARNING! This will remove ${what}. Are you sure you want to continue? [y/N] `))) return 0;
  }
  const store = await Store.open(global.root);
  printReport(await prune(store, { all: flags.all, keepStorage, untilMs, graceMs }));
  return 0;
}
