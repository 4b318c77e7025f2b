/**
 * What the CLI knows about the terminal it writes progress to: is it one, how wide, may it use colour.
 * BuildKit's rules: `auto` is the live view only on a terminal whose TERM is not `dumb`; NO_COLOR (any
 * non-empty value, no-color.org) turns colour off but keeps the live view.
 */
export interface TerminalInfo {
  isTTY: boolean;
  columns: number;
  rows: number;
  color: boolean;
}

/** The kind of progress `--progress` names; `auto` resolved against the terminal. */
export type ProgressMode = 'plain' | 'tty' | 'rawjson' | 'quiet';

export function terminalInfo(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): TerminalInfo {
  const isTTY = stream.isTTY === true && env.TERM !== 'dumb';
  return {
    isTTY,
    columns: (isTTY && stream.columns) || 80,
    rows: (isTTY && stream.rows) || 24,
    color: isTTY && !env.NO_COLOR,
  };
}

/** `auto` follows BUILDKIT_PROGRESS when it names a mode, as buildx does, else the terminal. */
export function resolveProgressMode(requested: string, terminal: TerminalInfo, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  if (requested === 'auto') {
    const fromEnv = env.BUILDKIT_PROGRESS;
    if (fromEnv && fromEnv !== 'auto' && ['plain', 'tty', 'rawjson', 'quiet'].includes(fromEnv)) return resolveProgressMode(fromEnv, terminal, env);
    return terminal.isTTY ? 'tty' : 'plain';
  }
  if (requested === 'plain' || requested === 'tty' || requested === 'rawjson' || requested === 'quiet') return requested;
  return 'plain';
}

/** SGR colours BuildKit uses: blue for finished, red for errors, yellow for warnings, cyan for running. */
export type Colour = 'blue' | 'red' | 'yellow' | 'cyan' | 'dim';
const SGR: Record<Colour, string> = { blue: '34', red: '31', yellow: '33', cyan: '36', dim: '2' };

export function paint(text: string, colour: Colour | undefined, enabled: boolean): string {
  return enabled && colour ? `\x1b[${SGR[colour]}m${text}\x1b[0m` : text;
}

/** Cuts `text` to `width` columns (code points; wide glyphs are rare in build output), marking the cut. */
export function fit(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  return width <= 1 ? chars.slice(0, width).join('') : `${chars.slice(0, width - 1).join('')}…`;
}

/** Removes ANSI escapes and control characters a step printed, keeping what follows the last `\r` (progress bars). */
export function printable(line: string): string {
  const afterCr = line.slice(line.lastIndexOf('\r') + 1);
  return afterCr.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').replace(/\t/g, '  ');
}

/** `4.2s`, `1m 3.0s` the way BuildKit prints step durations. */
export function formatSeconds(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  return `${Math.floor(seconds / 60)}m ${(seconds % 60).toFixed(1)}s`;
}

/** Bytes as docker prints them (go-units HumanSize: decimal units, 4 significant digits): `12.35MB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : Number(value.toPrecision(4))}${units[unit]}`;
}
