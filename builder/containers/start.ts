import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { BuildError } from '../errors.js';
import { runcPath, writeBundle } from '../sandbox/runc.js';
import { seccompFor } from '../sandbox/seccomp.js';
import { parseSecurityOpts } from '../sandbox/security-opt.js';
import { remountSnapshot } from '../snapshot/mount.js';
import { resolveGroupAdd, resolveUser } from '../sandbox/user.js';
import { DEFAULT_PATH } from '../sandbox/spec.js';
import { mergeEnv } from '../run/container-args.js';
import { healthEnabled, startHealthTimer } from './health.js';
import { bootId, conmonPath, launchMonitor, processStart, runc } from './monitor.js';
import { portBindings } from './ports.js';
import { startThroughExecFifo } from './runc-start.js';
import type { ContainerPaths, ContainerRecord, ContainerStateRecord } from './record.js';
import { resolveDevices } from './devices.js';
import { attachNetwork, detachNetwork, planNetwork, resolveExtraHosts, resolveMounts, toSandboxMounts } from './resources.js';

const INIT_BINARIES = ['/usr/bin/tini-static', '/usr/bin/docker-init'];

/**
 * Starts a created or exited container (the caller holds its lock): mounts its filesystem again if needed,
 * attaches networks and volumes, writes a fresh bundle, launches the monitor (runc create) and runs `runc start`.
 * On failure everything this start made is undone and the container keeps its previous state.
 */
export async function startContainer(
  root: string, paths: ContainerPaths, record: ContainerRecord, state: ContainerStateRecord,
  persist?: (running: ContainerStateRecord) => Promise<void>,
): Promise<ContainerStateRecord> {
  warmStartPath();
  // A fresh bundle dir and an empty exit dir (no exit file of an earlier run): synchronous, a handful of small
  // files at most (microseconds, where four thread-pool round trips cost 4-20 ms under load).
  for (const dir of [paths.bundle, paths.exitDir]) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  const merged = await remountSnapshot(record.rootfsDir);
  const plan = await planNetwork(root, record);
  const mounts = await resolveMounts(root, record, merged, state.mounts);
  const runtimeId = `builder-${record.id.slice(0, 12)}-${Date.now().toString(36)}`;
  let attached = false;
  try {
    const devices = resolveDevices(record.hostConfig);
    const attachment = await attachNetwork(root, record, plan, portBindings(record));
    attached = attachment !== undefined;
    const config = record.config;
    const hostConfig = record.hostConfig;
    let args = [record.path, ...record.args];
    const sandboxMounts = toSandboxMounts(mounts);
    if (hostConfig.Init) {
      const init = INIT_BINARIES.find((file) => existsSync(file));
      if (!init) throw new BuildError('NOT_SUPPORTED', '--init needs tini on this machine (apt-get install tini)');
      sandboxMounts.push({ type: 'bind', source: init, target: '/sbin/docker-init', readonly: true });
      args = ['/sbin/docker-init', '--', ...args];
    }
    const hostname = config.Hostname || record.id.slice(0, 12);
    const user = await resolveUser(merged, config.User ?? '');
    user.additionalGids = [...new Set([...user.additionalGids, ...await resolveGroupAdd(merged, hostConfig.GroupAdd ?? [])])];
    await writeBundle({
      id: runtimeId, rootfs: merged, args,
      // moby's CreateDaemonEnvironment: PATH, HOSTNAME (TERM with -t), then the config's, replacing in place.
      env: mergeEnv([DEFAULT_PATH, `HOSTNAME=${hostname}`, ...(config.Tty ? ['TERM=xterm'] : [])], config.Env ?? []),
      cwd: config.WorkingDir || '/', user: config.User ?? '',
      network: plan.kind === 'host' ? 'host' : 'none', netnsPath: attachment?.netnsPath, hostname,
      mounts: sandboxMounts, readonlyRootfs: hostConfig.ReadonlyRootfs === true, tty: config.Tty === true,
      memoryBytes: hostConfig.Memory || undefined, pidsLimit: hostConfig.PidsLimit ?? undefined,
      cpus: hostConfig.NanoCpus ? hostConfig.NanoCpus / 1e9 : undefined,
      ulimits: (hostConfig.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
      shmSizeBytes: hostConfig.ShmSize || undefined, devices,
      security: parseSecurityOpts(hostConfig.SecurityOpt ?? [], {
        capAdd: hostConfig.CapAdd ?? [], capDrop: hostConfig.CapDrop ?? [], privileged: hostConfig.Privileged === true,
      }),
    }, paths.bundle, user, {
      extraHosts: await resolveExtraHosts(root, hostConfig.ExtraHosts ?? []), ipAddress: attachment?.endpoints[0]?.ipAddress,
      dnsServers: hostConfig.Dns && hostConfig.Dns.length > 0 ? hostConfig.Dns : attachment?.dnsServers,
      searchDomains: hostConfig.DnsSearch ?? attachment?.searchDomains, dnsOptions: hostConfig.DnsOptions ?? [], createMissing: true,
    });
    // dockerd closes stdin when a StdinOnce client goes only without a TTY: `run -it`, detach, `attach` again works.
    const monitor = await launchMonitor(paths, runtimeId, {
      tty: config.Tty === true, root, name: record.name, stdin: config.OpenStdin === true, leaveStdinOpen: config.StdinOnce !== true || config.Tty === true,
    });
    // `runc start` runs while the state is read and persisted: the container process (runc init, which execs the
    // image's command with the same pid and start time) and the monitor exist since `runc create`, so the record
    // is the same before and after; a failed start rewrites it (the caller's catch). docker's `run -d` returns once
    // the task is started, so everything after runc start is on the user's path.
    const started = startProcess(runtimeId, monitor.pid).catch(async (err: unknown) => {
      await runc(['delete', '--force', runtimeId]).catch(() => undefined);
      throw err;
    });
    // Handled here so a quick failure is not an unhandled rejection while the reads below run; awaited below.
    started.catch(() => undefined);
    const monitorPid = await monitor.monitorPid;
    const [pidStart, monitorStart, boot] = await Promise.all([processStart(monitor.pid), processStart(monitorPid), bootId()]);
    const running: ContainerStateRecord = {
      ...state, status: 'running', pid: monitor.pid, pidStart, monitorPid, monitorStart, bootId: boot,
      exitCode: 0, error: '', startedAt: new Date().toISOString(), stoppedByUser: false, runtimeId,
      attachment, mounts, health: healthEnabled(config.Healthcheck) ? { Status: 'starting', FailingStreak: 0, Log: [] } : undefined,
    };
    const [persisted] = await Promise.allSettled([persist?.(running), started]);
    await started;
    if (persisted.status === 'rejected') throw persisted.reason;
    startHealthTimer(root, record, runtimeId);
    return running;
  } catch (err) {
    if (attached) await detachNetwork(root, record.id).catch(() => undefined);
    throw startError(err);
  }
}

/** `runc start`, through the exec fifo when runc keeps one (runc-start.ts). */
async function startProcess(runtimeId: string, initPid: number): Promise<void> {
  if (await startThroughExecFifo(runtimeId, initPid)) return;
  await runc(['start', runtimeId]);
}

/**
 * Starts the look-ups every start needs (conmon and runc on PATH: a dozen sequential access() calls each; the
 * default seccomp profile's read and the kernel's x32 check, run while the event loop waits for the mount) so they
 * overlap create's mount instead of following it. All are memoized per process; errors surface where awaited.
 */
export function warmStartPath(): void {
  void conmonPath().catch(() => undefined);
  void runcPath().catch(() => undefined);
  setImmediate(() => {
    try {
      seccompFor([]);
    } catch {
      // A missing or broken profile is reported by the bundle's own seccompFor call.
    }
  });
}

/** runc's "executable file not found" becomes docker's message (the CLI maps it to exit code 127, permission denied to 126). */
function startError(err: unknown): unknown {
  if (!(err instanceof BuildError)) return err;
  const notFound = /exec: "?([^":]+)"?: (executable file not found in \$PATH|no such file or directory)/.exec(err.message);
  if (notFound) return new BuildError('SANDBOX_FAILED', `failed to create task for container: exec: "${notFound[1]}": ${notFound[2]}`);
  if (/exec: .*permission denied/.test(err.message)) return new BuildError('SANDBOX_FAILED', `failed to create task for container: ${err.message}`);
  return err;
}
