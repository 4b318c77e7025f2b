import { cpus, release, totalmem } from 'node:os';

/** One tool's outcome on one bench case. */
export type CaseOutcome =
  | { status: 'ok'; samplesMs: number[] }
  | { status: 'skipped' | 'failed'; reason: string };

/** A column of a section's table: a tool and its heading. */
export interface Column {
  toolId: string;
  label: string;
  /** Another column of ours (the first column always is): it gets its own ratios against every peer column. */
  ours?: boolean;
}

/** One table row: the case title and one outcome per column (same order as the columns). */
export interface Row {
  title: string;
  /** The case id (BenchCase.id), for ratios between two rows ({@link renderCaseRatios}). */
  id?: string;
  outcomes: CaseOutcome[];
}

export function median(values: number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function cell(outcome: CaseOutcome | undefined): string {
  if (!outcome) return 'n/a';
  return outcome.status === 'ok' ? formatDuration(median(outcome.samplesMs)) : outcome.reason;
}

/**
 * A markdown table: a time column per tool (median), then "ours / theirs" for every column of ours (the first, and
 * any marked `ours`) against every other column. Below 1.00× means we are faster.
 */
export function renderTable(columns: Column[], rows: Row[]): string {
  if (columns.length === 0) throw new RangeError('a bench table needs at least one column');
  const isOurs = (column: Column, index: number): boolean => index === 0 || column.ours === true;
  const ours = columns.flatMap((column, index) => (isOurs(column, index) ? [index] : []));
  const peers = columns.flatMap((column, index) => (isOurs(column, index) ? [] : [index]));
  const pairs = ours.flatMap((mine) => peers.map((peer) => [mine, peer] as const));
  const header = ['bench', ...columns.map((c) => c.label), ...pairs.map(([mine, peer]) => `${columns[mine]!.label} / ${columns[peer]!.label}`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of rows) {
    const ratios = pairs.map(([mine, peer]) => {
      const our = row.outcomes[mine];
      const their = row.outcomes[peer];
      if (our?.status !== 'ok' || their?.status !== 'ok') return '–';
      return `${(median(our.samplesMs) / median(their.samplesMs)).toFixed(2)}×`;
    });
    lines.push(`| ${[row.title, ...columns.map((_, i) => cell(row.outcomes[i])), ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** A ratio between two rows of one table, per column: `of`'s median over `to`'s (e.g. concurrent stages / one stage). */
export interface CaseRatio {
  of: string;
  to: string;
  label: string;
}

/** One line per ratio: "label: ours 1.05×, BuildKit 1.10×, …" (columns where either row has no time are left out). */
export function renderCaseRatios(columns: Column[], rows: Row[], ratios: CaseRatio[]): string[] {
  return ratios.flatMap((ratio) => {
    const of = rows.find((row) => row.id === ratio.of);
    const to = rows.find((row) => row.id === ratio.to);
    if (!of || !to) return [];
    const cells = columns.flatMap((column, index) => {
      const a = of.outcomes[index];
      const b = to.outcomes[index];
      return a?.status === 'ok' && b?.status === 'ok' ? [`${column.label} ${(median(a.samplesMs) / median(b.samplesMs)).toFixed(2)}×`] : [];
    });
    return cells.length > 0 ? [`${ratio.label}: ${cells.join(', ')}`] : [];
  });
}

/** The machine line of a report: CPUs, kernel, memory. */
export function machineSummary(): string {
  const cpuList = cpus();
  const model = cpuList[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  const memGiB = (totalmem() / 2 ** 30).toFixed(1);
  return `nproc ${cpuList.length} (${model}), kernel ${release()}, ${memGiB} GiB RAM`;
}

export const BENCHMARKS_HEADER = `# Benchmarks

Measured by \`npm run bench\` (scripts/bench.ts). Each section below is written by the harness and
replaced between its \`<!-- bench:ID:begin -->\` / \`<!-- bench:ID:end -->\` markers, so new benches
add their own section without touching the others. Text outside the markers is kept.
`;

/** Replaces the section between `id`'s markers, or appends it (creating the file's header if empty). */
export function replaceSection(document: string, id: string, body: string): string {
  const begin = `<!-- bench:${id}:begin -->`;
  const end = `<!-- bench:${id}:end -->`;
  const block = `${begin}\n${body.trim()}\n${end}`;
  const start = document.indexOf(begin);
  const stop = document.indexOf(end, start);
  if (start !== -1 && stop !== -1) {
    return document.slice(0, start) + block + document.slice(stop + end.length);
  }
  const base = document.trim() === '' ? BENCHMARKS_HEADER : document.replace(/\s*$/, '\n');
  return `${base}\n${block}\n`;
}
