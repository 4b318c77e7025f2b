import { BuildError } from '../errors.js';

/* docker's shapes for object-management commands (network, volume): tables, filters, labels, inspect/rm of several names. */

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

/** `--label k=v` (or `k`) flags → a label map. */
export function parseLabels(labels: string[]): Record<string, string> {
  return Object.fromEntries(labels.map((label) => {
    const eq = label.indexOf('=');
    return eq < 0 ? [label, ''] : [label.slice(0, eq), label.slice(eq + 1)];
  }));
}

/** docker's `inspect A B …`: prints what it found as one JSON array, then fails for what it did not (`notFound` code). */
export async function inspectEach<T>(names: string[], notFound: string, inspect: (name: string) => Promise<T>): Promise<void> {
  const found: T[] = [];
  let missing: BuildError | undefined;
  for (const name of names) {
    try {
      found.push(await inspect(name));
    } catch (err) {
      if (!(err instanceof BuildError) || err.code !== notFound) throw err;
      missing = err;
    }
  }
  process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  if (missing) throw missing;
}

/** docker's `rm A B …`: removes each in turn, prints the names removed, reports every failure and fails with the first. */
export async function removeEach(names: string[], remove: (name: string) => Promise<void>): Promise<void> {
  let failure: unknown;
  for (const name of names) {
    try {
      await remove(name);
      process.stdout.write(`${name}\n`);
    } catch (err) {
      if (failure === undefined) failure = err;
      else process.stderr.write(`ERROR: ${(err as Error).message}\n`);
    }
  }
  if (failure !== undefined) throw failure;
}
