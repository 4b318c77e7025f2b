import type { ContainerSummary, PortSummary } from '../containers/docker-types.js';
import { humanDuration } from '../containers/inspect.js';
import { BuildError } from '../errors.js';

/** go-units Ellipsis + strconv.Quote, as docker ps's COMMAND column. */
function quotedCommand(command: string, width = 20): string {
  const chars = [...command];
  const cut = chars.length > width ? `${chars.slice(0, width - 1).join('')}…` : command;
  return JSON.stringify(cut);
}

export function portsText(ports: PortSummary[]): string {
  return ports.map((port) => (port.PublicPort ? `${port.IP ?? '0.0.0.0'}:${port.PublicPort}->${port.PrivatePort}/${port.Type}` : `${port.PrivatePort}/${port.Type}`)).join(', ');
}

/** The fields `--format` templates can name (docker's container formatter). */
function fields(summary: ContainerSummary, noTrunc: boolean): Record<string, string> {
  const created = summary.Created * 1000;
  return {
    ID: noTrunc ? summary.Id : summary.Id.slice(0, 12),
    Image: summary.Image,
    Command: noTrunc ? JSON.stringify(summary.Command) : quotedCommand(summary.Command),
    CreatedAt: new Date(created).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
    RunningFor: `${humanDuration(Date.now() - created)} ago`,
    Ports: portsText(summary.Ports),
    State: summary.State,
    Status: summary.Status,
    Names: summary.Names.map((name) => name.replace(/^\//, '')).join(','),
    Labels: Object.entries(summary.Labels).map(([key, value]) => `${key}=${value}`).join(','),
    Mounts: summary.Mounts.map((mount) => mount.Name ?? mount.Source).join(','),
    Networks: Object.keys(summary.NetworkSettings.Networks).join(','),
    Size: '0B',
  };
}

const HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS',
  State: 'STATE', Status: 'STATUS', Names: 'NAMES', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS', Size: 'SIZE',
};

/** Columns padded as docker's tabwriter does (3 spaces between, last column unpadded). */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => [...(row[column] ?? '')].length))) ?? [];
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** A small Go-template subset: `{{.Field}}`, `{{.Label "k"}}`, `{{json .}}`, a `table ` prefix, `\t` and `\n`. */
export function formatRows(summaries: ContainerSummary[], format: string, noTrunc: boolean): string {
  const text = format.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  if (text === 'json') return summaries.map((summary) => `${JSON.stringify(fields(summary, noTrunc))}\n`).join('');
  const isTable = text.startsWith('table ');
  const body = isTable ? text.slice(6) : text;
  const render = (summary: ContainerSummary | undefined): string => body.replace(/\{\{\s*(json \.|\.Label\s+"([^"]*)"|\.(\w+))\s*\}\}/g, (match, _all, label?: string, field?: string) => {
    if (match.includes('json')) return summary ? JSON.stringify(fields(summary, noTrunc)) : '';
    if (label !== undefined) return summary ? summary.Labels[label] ?? '' : label.toUpperCase();
    if (field === undefined || !(field in HEADERS)) throw new BuildError('INVALID_ARGUMENT', `template: can't evaluate field ${field} in type container.Context`);
    return summary ? fields(summary, noTrunc)[field]! : HEADERS[field]!;
  });
  if (!isTable) return summaries.map((summary) => `${render(summary)}\n`).join('');
  return table([render(undefined), ...summaries.map(render)].map((line) => line.split('\t')));
}

export function psTable(summaries: ContainerSummary[], noTrunc: boolean): string {
  return formatRows(summaries, 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}', noTrunc);
}
