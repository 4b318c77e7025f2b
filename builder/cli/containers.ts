import { Containers } from '../containers/service.js';
import { parseFilterFlags } from '../containers/filters.js';
import { BuildError, errorMessage } from '../errors.js';
import { formatRows, portsText, psTable, table } from './container-output.js';
import type { CreateFlags } from './container-flag-defs.js';
import type { GlobalOptions } from './options.js';

/** Runs `action` for each ref as docker does: one failure is reported and the others still run; exit 1 if any failed. */
async function eachRef(refs: string[], action: (ref: string) => Promise<void>, print = true): Promise<number> {
  let failed = false;
  for (const ref of refs) {
    try {
      await action(ref);
      if (print) process.stdout.write(`${ref}\n`);
    } catch (err) {
      failed = true;
      process.stderr.write(`ERROR: ${errorMessage(err)}\n`);
    }
  }
  return failed ? 1 : 0;
}

export async function createCommand(image: string, command: string[], flags: CreateFlags, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  const { createBody } = await import('./container-flags.js');
  const created = await service.create(createBody(image, command, flags), flags.name);
  for (const warning of created.Warnings) process.stderr.write(`WARNING: ${warning}\n`);
  process.stdout.write(`${created.Id}\n`);
  return 0;
}

/** Prints log entries to our stdout/stderr as they come (`logs -f`, `start -a`, foreground `run`). */
async function streamLogs(service: Containers, ref: string, options: { follow: boolean; tail?: number | 'all'; since?: number; timestamps?: boolean; signal?: AbortSignal }): Promise<void> {
  for await (const entry of service.logs(ref, options)) {
    const text = options.timestamps ? `${entry.time} ${entry.line}` : entry.line;
    (entry.stream === 'stdout' ? process.stdout : process.stderr).write(text);
  }
}

/** Docker maps a command that cannot run to 127 (not found) or 126 (not executable). */
export function startFailureExitCode(err: unknown): number | undefined {
  const message = errorMessage(err);
  if (/executable file not found|exec: "[^"]*": no such file or directory/.test(message)) return 127;
  if (/exec: .*permission denied/.test(message)) return 126;
  return undefined;
}

/**
 * `run` through the service: create, start, and then either print the id (-d) or follow the logs and wait,
 * exiting with the container's code; SIGINT/SIGTERM go to the container (docker's --sig-proxy).
 */
export async function runServiceContainer(image: string, command: string[], flags: CreateFlags, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  const { createBody } = await import('./container-flags.js');
  const body = createBody(image, command, flags);
  if (!flags.detach) (await import('./container-attach.js')).checkTtyInput(flags.tty === true, flags.interactive === true);
  const foregroundRemove = !flags.detach && flags.rm === true;
  // A foreground --rm container is removed by us after the wait, so the wait can still read its exit code.
  if (foregroundRemove) body.HostConfig = { ...body.HostConfig, AutoRemove: false };
  // The start's PATH and seccomp look-ups run while create waits for its mount.
  (await import('../containers/start.js')).warmStartPath();
  let created: string | undefined;
  let id: string;
  try {
    id = (await service.run(body, flags.name, (createdId) => { created = createdId; })).Id;
  } catch (err) {
    if (created === undefined) throw err;
    const id = created;
    const code = startFailureExitCode(err);
    // Bad input found only at start (a taken port, an unknown network or volume) leaves no half-made container.
    const badInput = err instanceof BuildError && ['PORT_IN_USE', 'NETWORK_NOT_FOUND', 'VOLUME_NOT_FOUND', 'INVALID_ARGUMENT', 'NOT_SUPPORTED'].includes(err.code);
    if (flags.rm || badInput) await service.remove(id, { force: true, volumes: true }).catch(() => undefined);
    if (code === undefined) throw err;
    process.stderr.write(`ERROR: ${errorMessage(err)}\n`);
    return code;
  }
  if (flags.detach) {
    process.stdout.write(`${id}\n`);
    return 0;
  }
  if (flags.interactive || flags.tty) {
    const { attachSession } = await import('./container-attach.js');
    try {
      return await attachSession(service, id, { stdin: flags.interactive === true, since: Date.now() / 1000 - 1, detachKeys: flags.detachKeys, started: true });
    } finally {
      if (foregroundRemove) await service.remove(id, { force: true, volumes: true }).catch(() => undefined);
    }
  }
  const forward = (signal: NodeJS.Signals): void => { void service.kill(id, signal).catch(() => undefined); };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, forward);
  try {
    await streamLogs(service, id, { follow: true });
    const { StatusCode } = await service.wait(id);
    return StatusCode;
  } finally {
    for (const signal of signals) process.off(signal, forward);
    if (foregroundRemove) await service.remove(id, { force: true, volumes: true }).catch(() => undefined);
  }
}

export async function startCommand(refs: string[], opts: { attach?: boolean; interactive?: boolean; detachKeys?: string }, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  // docker start -i attaches the output too.
  if (opts.attach || opts.interactive) {
    if (refs.length !== 1) throw new BuildError('INVALID_ARGUMENT', 'you cannot start and attach multiple containers at once');
    const { attachSession, checkTtyInput } = await import('./container-attach.js');
    const config = (await service.inspect(refs[0]!)).Config;
    checkTtyInput(config.Tty === true, opts.interactive === true && config.OpenStdin === true);
    // From this moment: an earlier run's lines are older (docker shows the new run's output only). The log's
    // times are read to the millisecond, hence the one-millisecond margin.
    const since = (Math.floor(Date.now()) - 1) / 1000;
    await service.start(refs[0]!);
    return attachSession(service, refs[0]!, { stdin: opts.interactive === true, since, detachKeys: opts.detachKeys, started: true });
  }
  return eachRef(refs, (ref) => service.start(ref));
}

/** `attach`: our stdin, stdout and stderr to a running container until it exits or the detach keys are typed. */
export async function attachCommand(ref: string, opts: { stdin?: boolean; sigProxy?: boolean; detachKeys?: string }, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  const { attachSession } = await import('./container-attach.js');
  const state = (await service.inspect(ref)).State;
  if (!state.Running) throw new BuildError('CONFLICT', 'You cannot attach to a stopped container, start it first');
  if (state.Paused) throw new BuildError('CONFLICT', 'You cannot attach to a paused container, unpause it first');
  return attachSession(service, ref, { stdin: opts.stdin !== false, since: Date.now() / 1000, detachKeys: opts.detachKeys, sigProxy: opts.sigProxy });
}

export async function stopCommand(refs: string[], opts: { time?: string; signal?: string }, global: GlobalOptions, restart = false): Promise<number> {
  const service = await Containers.open(global.root);
  const timeoutSeconds = opts.time === undefined ? undefined : Number(opts.time);
  if (timeoutSeconds !== undefined && !Number.isInteger(timeoutSeconds)) throw new BuildError('INVALID_ARGUMENT', `invalid argument "${opts.time}" for "-t, --time" flag`);
  return eachRef(refs, (ref) => (restart ? service.restart(ref, { timeoutSeconds, signal: opts.signal }) : service.stop(ref, { timeoutSeconds, signal: opts.signal })));
}

export async function simpleCommand(verb: 'kill' | 'pause' | 'unpause', refs: string[], opts: { signal?: string }, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  return eachRef(refs, (ref) => (verb === 'kill' ? service.kill(ref, opts.signal ?? 'KILL') : service[verb](ref)));
}

export async function waitCommand(refs: string[], global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  return eachRef(refs, async (ref) => { process.stdout.write(`${(await service.wait(ref)).StatusCode}\n`); }, false);
}

export async function rmCommand(refs: string[], opts: { force?: boolean; volumes?: boolean }, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  return eachRef(refs, (ref) => service.remove(ref, { force: opts.force === true, volumes: opts.volumes === true }));
}

export async function renameCommand(ref: string, name: string, global: GlobalOptions): Promise<number> {
  await (await Containers.open(global.root)).rename(ref, name);
  return 0;
}

export async function pruneCommand(opts: { force?: boolean; filter: string[] }, global: GlobalOptions): Promise<number> {
  const result = await (await Containers.open(global.root)).prune(parseFilterFlags(opts.filter));
  const { formatBytes } = await import('./prune.js');
  if (result.ContainersDeleted.length > 0) process.stdout.write(`Deleted Containers:\n${result.ContainersDeleted.join('\n')}\n\n`);
  process.stdout.write(`Total reclaimed space: ${formatBytes(result.SpaceReclaimed)}\n`);
  return 0;
}

export async function psCommand(opts: { all?: boolean; quiet?: boolean; filter: string[]; format?: string; noTrunc?: boolean; last?: string; latest?: boolean }, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  const limit = opts.latest ? 1 : opts.last ? Number(opts.last) : undefined;
  const summaries = await service.list({ all: opts.all === true || limit !== undefined, filters: parseFilterFlags(opts.filter), limit });
  if (opts.quiet) process.stdout.write(summaries.map((s) => `${opts.noTrunc ? s.Id : s.Id.slice(0, 12)}\n`).join(''));
  else if (opts.format) process.stdout.write(formatRows(summaries, opts.format, opts.noTrunc === true));
  else process.stdout.write(psTable(summaries, opts.noTrunc === true));
  return 0;
}

/** `--since 10m` / RFC 3339 / unix seconds → unix seconds. */
function parseSince(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const relative = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(text);
  if (relative) return Date.now() / 1000 - Number(relative[1]) * { s: 1, m: 60, h: 3600 }[relative[2] as 's' | 'm' | 'h'];
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new BuildError('INVALID_ARGUMENT', `invalid value for "since": failed to parse value as time or duration: "${text}"`);
  return parsed / 1000;
}

export async function logsCommand(ref: string, opts: { follow?: boolean; tail?: string; since?: string; timestamps?: boolean }, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  const tail = opts.tail === undefined || opts.tail === 'all' ? 'all' : Number(opts.tail);
  if (tail !== 'all' && !Number.isInteger(tail)) throw new BuildError('INVALID_ARGUMENT', `invalid argument "${opts.tail}" for "-n, --tail" flag`);
  await service.find(ref);
  await streamLogs(service, ref, { follow: opts.follow === true, tail, since: parseSince(opts.since), timestamps: opts.timestamps === true });
  return 0;
}

export async function topCommand(ref: string, psArgs: string[], global: GlobalOptions): Promise<number> {
  const result = await (await Containers.open(global.root)).top(ref, psArgs.length > 0 ? psArgs.join(' ') : undefined);
  process.stdout.write(table([result.Titles, ...result.Processes]));
  return 0;
}

export async function portCommand(ref: string, port: string | undefined, global: GlobalOptions): Promise<number> {
  const inspect = await (await Containers.open(global.root)).inspect(ref);
  const lines: string[] = [];
  for (const [key, bindings] of Object.entries(inspect.NetworkSettings.Ports)) {
    if (port && key !== port && key !== `${port}/tcp`) continue;
    for (const binding of bindings ?? []) lines.push(port ? `${binding.HostIp}:${binding.HostPort}` : `${key} -> ${binding.HostIp}:${binding.HostPort}`);
  }
  if (port && lines.length === 0) throw new BuildError('INVALID_ARGUMENT', `no public port '${port}' published for ${ref}`);
  process.stdout.write(lines.map((line) => `${line}\n`).join(''));
  return 0;
}

export async function statsCommand(refs: string[], opts: { noStream?: boolean; all?: boolean }, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  const targets = refs.length > 0 ? refs : (await service.list({ all: opts.all === true })).map((s) => s.Id);
  const rows = [['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS']];
  for (const ref of targets) {
    const s = await service.stats(ref);
    const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
    const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
    const cpu = systemDelta > 0 ? (cpuDelta / systemDelta) * (s.cpu_stats.online_cpus ?? 1) * 100 : 0;
    const usage = s.memory_stats.usage ?? 0;
    const limit = s.memory_stats.limit ?? 0;
    rows.push([s.id.slice(0, 12), s.name.slice(1), `${cpu.toFixed(2)}%`, `${mib(usage)} / ${mib(limit)}`,
      `${limit > 0 ? ((usage / limit) * 100).toFixed(2) : '0.00'}%`, '0B / 0B', '0B / 0B', String(s.pids_stats.current ?? 0)]);
  }
  process.stdout.write(table(rows));
  return 0;
}

function mib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)}GiB` : `${(bytes / 1024 ** 2).toFixed(2)}MiB`;
}

export async function execCommand(ref: string, command: string[], opts: { interactive?: boolean; tty?: boolean; env: string[]; user?: string; workdir?: string; detach?: boolean }, global: GlobalOptions): Promise<number> {
  if (opts.detach) throw new BuildError('NOT_SUPPORTED', 'exec -d is not supported: run the command in the foreground, or start it with sh -c "cmd &"');
  const service = await Containers.open(global.root);
  // docker's check: only -it needs our stdin to be a terminal; `exec -t` with piped stdio gets its pty from conmon.
  const { checkTtyInput } = await import('./container-attach.js');
  checkTtyInput(opts.tty === true, opts.interactive === true);
  const { Id } = await service.execCreate(ref, {
    Cmd: command, Env: opts.env, User: opts.user, WorkingDir: opts.workdir, Tty: opts.tty === true, AttachStdin: opts.interactive === true,
  });
  return service.execStart(Id, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
}

export { portsText };
