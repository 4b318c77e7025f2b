import { BuildError } from '../errors.js';
import { gcGraceMs } from '../store/gc-auto.js';
import { diskUsage, type DiskUsage, type UsageRow } from '../store/gc-df.js';
import { Store } from '../store/store.js';
import type { GlobalOptions } from './options.js';
import { formatBytes } from './prune.js';

/** `builder system df` flags. */
export interface DfFlags {
  /** `json` prints the numbers (bytes) for scripts. */
  format?: string;
}

const ROWS: [string, keyof Omit<DiskUsage, 'managedSize' | 'totalSize'>][] = [
  ['Images', 'images'],
  ['Blobs', 'blobs'],
  ['Snapshots', 'snapshots'],
  ['Build Cache', 'buildCache'],
  ['Containers', 'containers'],
  ['Local Volumes', 'volumes'],
  ['Temporary', 'temp'],
];

function reclaimable(row: UsageRow): string {
  const percent = row.size > 0 ? Math.round((row.reclaimable / row.size) * 100) : 0;
  return `${formatBytes(row.reclaimable)} (${percent}%)`;
}

/** Like `docker system df`: one row per kind of thing in the store. */
export function formatDiskUsage(usage: DiskUsage): string {
  const table = [['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE']];
  for (const [label, key] of ROWS) {
    const row = usage[key];
    table.push([label, String(row.total), String(row.active), formatBytes(row.size), reclaimable(row)]);
  }
  const widths = table[0]!.map((_, col) => Math.max(...table.map((cells) => cells[col]!.length)));
  const lines = table.map((cells) => cells.map((cell, col) => cell.padEnd(widths[col]!)).join('   ').trimEnd());
  // Volumes are user data: `builder prune` never touches them (`builder volume prune` does).
  const reclaimableTotal = ROWS.filter(([, key]) => key !== 'volumes').reduce((sum, [, key]) => sum + usage[key].reclaimable, 0);
  lines.push('');
  lines.push(`Images are stored as blobs; their size is part of the Blobs row.`);
  lines.push(`Store total: ${formatBytes(usage.totalSize)} (blobs + snapshots + build cache: ${formatBytes(usage.managedSize)}); reclaimable with \`builder prune --all\`: ${formatBytes(reclaimableTotal)}`);
  return `${lines.join('\n')}\n`;
}

export async function systemDfCommand(flags: DfFlags, global: GlobalOptions): Promise<number> {
  if (flags.format !== undefined && flags.format !== 'json' && flags.format !== 'table') {
    throw new BuildError('INVALID_ARGUMENT', `invalid --format "${flags.format}": use json or table`);
  }
  const store = await Store.open(global.root);
  const usage = await diskUsage(store, { graceMs: gcGraceMs() });
  process.stdout.write(flags.format === 'json' ? `${JSON.stringify(usage, null, 2)}\n` : formatDiskUsage(usage));
  return 0;
}
