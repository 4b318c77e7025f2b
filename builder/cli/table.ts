import { BuildError } from '../errors.js';

/** docker's table layout (its tabwriter: columns at least 10 wide, 3 spaces of padding, last column unpadded). */
export function formatTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, col) => Math.max(10, ...rows.map((row) => (row[col] ?? '').length + 3)));
  return rows.map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('').trimEnd()).join('\n') + '\n';
}

/** `--filter key=value` flags → docker's filter map. */
export function parseFilters(filters: string[], allowed: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    const key = eq < 0 ? filter : filter.slice(0, eq);
    if (eq < 0 || !allowed.includes(key)) {
      throw new BuildError('INVALID_ARGUMENT', eq < 0 ? `bad format of filter (expected name=value): ${filter}` : `invalid filter '${key}'`);
    }
    (out[key] ??= []).push(filter.slice(eq + 1));
  }
  return out;
}
