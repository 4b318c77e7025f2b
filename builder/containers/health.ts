import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import type { HealthConfig, HealthLogEntry } from './docker-types.js';
import type { ContainerRecord } from './record.js';
import { internalCliEntry, internalNodeEnv } from './internal-env.js';

/** Docker's defaults (nanoseconds): 30 s interval and timeout, 3 retries, no start period. */
const DEFAULT_INTERVAL = 30e9;
const DEFAULT_TIMEOUT = 30e9;
const DEFAULT_RETRIES = 3;
const MAX_OUTPUT = 4096;
const MAX_LOG = 5;

const CLI_MAIN = internalCliEntry();

export function healthEnabled(config: HealthConfig | undefined): config is HealthConfig {
  return config !== undefined && (config.Test?.length ?? 0) > 0 && config.Test![0] !== 'NONE';
}

/** The check as a command: `CMD-SHELL x` → `/bin/sh -c x`, `CMD a b` → `a b`. */
export function healthCommand(config: HealthConfig): string[] {
  const [kind, ...rest] = config.Test ?? [];
  return kind === 'CMD-SHELL' ? ['/bin/sh', '-c', rest.join(' ')] : rest;
}

/**
 * The healthcheck timer: a detached `/bin/sh` loop (~1 MB RSS, sleeping between checks) that runs
 * `builder container healthcheck ID RUNTIME` each interval and ends when that says the run is over. conmon has
 * no timer of its own; podman uses systemd timers, which a daemonless CLI cannot count on.
 */
export function startHealthTimer(root: string, record: ContainerRecord, runtimeId: string): number | undefined {
  const config = record.config.Healthcheck;
  if (!healthEnabled(config)) return undefined;
  const interval = (config.Interval || DEFAULT_INTERVAL) / 1e9;
  const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;
  const check = [process.execPath, CLI_MAIN, '--root', root, 'container', 'healthcheck', record.id, runtimeId].map(quote).join(' ');
  const script = `while sleep ${interval}; do ${check} || exit 0; done`;
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore', env: internalNodeEnv() });
  child.unref();
  return child.pid;
}

/** One check through exec: exit 0 healthy, anything else (or the timeout) a failure. */
export async function runCheck(
  config: HealthConfig, exec: (cmd: string[], stdout: Writable) => Promise<number>,
): Promise<HealthLogEntry> {
  const start = new Date();
  let output = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (output.length < MAX_OUTPUT) output += chunk.toString().slice(0, MAX_OUTPUT - output.length);
      done();
    },
  });
  const timeoutMs = (config.Timeout || DEFAULT_TIMEOUT) / 1e6;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<number>((resolve) => { timer = setTimeout(() => resolve(-1), timeoutMs); });
  const exitCode = await Promise.race([exec(healthCommand(config), sink), timedOut]).catch(() => 1);
  clearTimeout(timer);
  return {
    Start: start.toISOString(), End: new Date().toISOString(), ExitCode: exitCode === -1 ? -1 : exitCode,
    Output: exitCode === -1 ? `Health check exceeded timeout (${timeoutMs / 1000}s)` : output,
  };
}

/** Docker's bookkeeping: failures within the start period do not count; `retries` failures in a row → unhealthy. */
export function applyResult(
  health: { Status: 'starting' | 'healthy' | 'unhealthy' | 'none'; FailingStreak: number; Log: HealthLogEntry[] },
  config: HealthConfig, result: HealthLogEntry, startedAt: string,
): typeof health {
  const log = [...health.Log, result].slice(-MAX_LOG);
  if (result.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log: log };
  const inStartPeriod = Date.parse(result.Start) - Date.parse(startedAt) < (config.StartPeriod ?? 0) / 1e6;
  if (inStartPeriod && health.Status === 'starting') return { ...health, Log: log };
  const streak = health.FailingStreak + 1;
  return { Status: streak >= (config.Retries || DEFAULT_RETRIES) ? 'unhealthy' : health.Status, FailingStreak: streak, Log: log };
}
