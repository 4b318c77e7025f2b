import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunStep } from '../dockerfile/types.js';
import { BuildError } from '../errors.js';
import { prepareSnapshot } from '../snapshot/mount.js';
import { runSandbox, warmLauncher } from '../sandbox/runc.js';
import { recordStep, runEnv } from './config.js';
import { runHistoryText } from './history-text.js';
import { commitSnapshot, lowerDirs } from './commit.js';
import { warmFileReader } from '../layer/file-reader.js';
import { shellOf } from './metadata.js';
import { prepareRunMounts, tidyMountParents, type PreparedRunMounts } from './run-mounts.js';
import type { StepContext, StepHandler } from './types.js';
import type { BuildNetworkMode } from '../network/build-network.js';
import { inSpan } from '../trace/tracer.js';

// This module is loaded ahead of a stage's first RUN (exec/index.ts prefetchHandlers): start the runtime's launch
// server now, while earlier steps wait on their mounts, rather than on the first RUN's path.
warmLauncher();

/** How many trailing output lines a RUN failure quotes. */
const TAIL_LINES = 10;
/** A RUN running this long starts the layer file reader thread (layer/file-reader.ts) before it ends. */
const WARM_READER_AFTER_MS = 150;

/** Where BuildKit mounts a `RUN <<EOF` script that starts with `#!`, so it runs as a file under its own interpreter. */
const PIPES_DIR = '/dev/pipes';

/** The heredoc a RUN consists of alone (`RUN <<EOF`), if so. */
function soleHeredoc(step: RunStep): RunStep['heredocs'][number] | undefined {
  const command = step.args[0] ?? '';
  const only = /^\s*<<-?\s*(["']?)([A-Za-z0-9_]+)\1\s*$/.exec(command);
  return only && step.form === 'shell' && step.heredocs.length === 1 ? step.heredocs[0] : undefined;
}

/** A sole heredoc starting with `#!` (BuildKit's dispatchRun): written to a file and run by path. */
function shebangScript(step: RunStep): { name: string; content: string } | undefined {
  const doc = soleHeredoc(step);
  return doc && doc.content.startsWith('#!') ? { name: doc.name, content: doc.content } : undefined;
}

/** The argv a RUN executes: exec form as written; shell form under the stage SHELL, heredocs included. */
export function runArgv(step: RunStep, shell: string[]): string[] {
  if (step.form === 'exec') return [...step.args];
  const command = step.args[0] ?? '';
  const script = shebangScript(step);
  if (script) return [...shell, path.posix.join(PIPES_DIR, script.name)];
  const sole = soleHeredoc(step);
  if (sole) return [...shell, sole.content];
  if (step.heredocs.length === 0) return [...shell, command];
  // The shell understands heredocs itself: hand it the command followed by each body and delimiter.
  const bodies = step.heredocs.map((doc) => `${doc.content.endsWith('\n') || doc.content === '' ? doc.content : `${doc.content}\n`}${doc.name}`);
  return [...shell, [command, ...bodies].join('\n')];
}

export const run: StepHandler<'RUN'> = async (step, ctx) => {
  const argv = runArgv(step, shellOf(ctx.config.config));
  const lowers = await lowerDirs(ctx, ctx.layers);
  const snapshot = await inSpan(ctx.span, 'mount', () => prepareSnapshot(ctx.store.tmpDir, lowers), { layers: lowers.length });
  const tail = new OutputTail(TAIL_LINES);
  let exitCode: number;
  let mounts: PreparedRunMounts | undefined;
  try {
    const network = runNetwork(step.network, ctx);
    mounts = step.mounts.length > 0 ? await inSpan(ctx.span, 'run mounts', () => prepareRunMounts(step, ctx)) : await prepareRunMounts(step, ctx);
    const script = shebangScript(step);
    if (script) mounts = await withScriptMount(mounts, script, ctx.store.tempPath('run-script'));
    const prepared = mounts;
    const id = `builder-${randomBytes(6).toString('hex')}`;
    const dns = network === 'isolated' ? (await import('../network/etc-files.js')).hostDns() : { servers: [], search: [] };
    const sandbox = (netnsPath?: string): ReturnType<typeof runSandbox> => runSandbox({
      id,
      rootfs: snapshot.merged,
      args: argv,
      env: withSshAuthSock([...runEnv(ctx.config, step.buildArgs), ...prepared.env], prepared.sshAuthSock),
      mounts: prepared.mounts,
      cwd: ctx.config.config.WorkingDir || '/',
      user: ctx.config.config.User ?? '',
      network: network === 'none' ? 'none' : 'host',
      // In the build netns: the host's resolvers minus loopback ones (reached through NAT). The hostname is
      // BuildKit's on every network (its own UTS namespace): `buildkitsandbox`, or BUILDKIT_SANDBOX_HOSTNAME.
      netnsPath,
      hostname: step.hostname ?? 'buildkitsandbox',
      etc: netnsPath ? { dnsServers: dns.servers, searchDomains: dns.search } : undefined,
      stdio: 'pipe',
      onStdout: (chunk) => { tail.push(chunk); ctx.log('stdout', chunk); },
      onStderr: (chunk) => { tail.push(chunk); ctx.log('stderr', chunk); },
      signal: ctx.signal,
      memoryBytes: ctx.memoryBytes,
      pidsLimit: ctx.pidsLimit,
      runtime: ctx.runtime,
      span: ctx.span,
      deferCleanup: (work) => ctx.session.later(work),
    });
    // A RUN still going after a moment may well write many files: the layer's reader thread starts meanwhile.
    const warm = setTimeout(warmFileReader, WARM_READER_AFTER_MS);
    try {
      if (network === 'isolated') {
        const { withBuildNetwork } = await import('../network/build-network.js');
        ({ exitCode } = await withBuildNetwork(ctx.store.root, ctx.networkPolicy ?? { allowCidrs: [], denyCidrs: [] }, sandbox));
      } else {
        ({ exitCode } = await sandbox());
      }
    } finally {
      clearTimeout(warm);
    }
  } catch (err) {
    await mounts?.release().catch(() => undefined);
    await snapshot.release();
    throw err;
  }
  // The container is gone: mount sources (overlays, secret files, cache locks) can go too.
  await mounts.release().catch(async (err: unknown) => {
    await snapshot.release();
    throw err;
  });
  if (ctx.signal?.aborted) {
    await snapshot.release();
    throw new BuildError('CANCELLED', 'build cancelled');
  }
  if (exitCode !== 0) {
    await snapshot.release();
    throw new BuildError('RUN_FAILED', `process "${argv.join(' ')}" did not complete successfully: exit code: ${exitCode}`, {
      detail: tail.text(),
    });
  }
  const used = mounts.mounts;
  await inSpan(ctx.span, 'tidy mount parents', () => tidyMountParents(snapshot, lowers, used));
  const layer = await inSpan(ctx.span, 'commit', (span) => commitSnapshot(snapshot, { ...ctx, span }));
  return { layer, config: recordStep(ctx.config, runHistoryText(step, argv), layer, ctx.sourceDateEpoch) };
};

/**
 * The network one RUN gets: `--network=none|host` as written, else the build's. `host` on a build whose
 * default is not host needs the entitlement (the farm's `[worker] allow_host_network`, BuildKit's network.host).
 */
export function runNetwork(requested: RunStep['network'], ctx: Pick<StepContext, 'network' | 'allowHostNetwork'>): BuildNetworkMode {
  if (requested === 'none') return 'none';
  if (requested === 'host') {
    if (ctx.network !== 'host' && ctx.allowHostNetwork === false) {
      throw new BuildError('DOCKERFILE_INVALID', 'RUN --network=host: entitlement network.host is not allowed (this build farm does not grant it; set [worker] allow_host_network = true to allow it)');
    }
    return 'host';
  }
  return ctx.network;
}

/** SSH_AUTH_SOCK=<first ssh mount> unless the step's env (ENV or a build arg) names one already, as llb.ExecOp does. */
function withSshAuthSock(env: string[], socket: string | undefined): string[] {
  if (socket === undefined || env.some((entry) => entry.startsWith('SSH_AUTH_SOCK='))) return env;
  return [...env, `SSH_AUTH_SOCK=${socket}`];
}

/** Adds the read-only /dev/pipes holding the script (mode 0755, as BuildKit's Mkfile) to a RUN's mounts. */
async function withScriptMount(mounts: PreparedRunMounts, script: { name: string; content: string }, dir: string): Promise<PreparedRunMounts> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, script.name), script.content, { mode: 0o755 });
  return {
    mounts: [...mounts.mounts, { type: 'bind', source: dir, target: PIPES_DIR, readonly: true }],
    env: mounts.env,
    ...(mounts.sshAuthSock ? { sshAuthSock: mounts.sshAuthSock } : {}),
    release: async () => {
      await rm(dir, { recursive: true, force: true });
      await mounts.release();
    },
  };
}

/** Keeps the last lines of a step's output for its error message. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly lines: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > 64 * 1024 && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8').split('\n').filter((l) => l !== '').slice(-this.lines).join('\n');
  }
}
