/**
 * BuildKit's answer to "a fresh worker builds and pushes a commit another worker built" (shared-cache section):
 * one dockerd builds the project with `BUILDKIT_INLINE_CACHE=1` and pushes it to the loopback registry; then, per
 * sample, a dockerd with an empty data-root (busybox loaded, as our fresh worker's store) builds the same context
 * `--cache-from` that image and pushes the result. Daemons run on the bench scratch fs with --bridge=none
 * --iptables=false --ip-masq=false (scripts/start-dockerd.sh); builds use --network=host as the other BuildKit cases.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteProxy } from './byte-proxy.js';
import { findExecutable, runCommand } from './proc.js';
import { unmountTree } from './scratch-fs.js';

const DOCKER = '/usr/bin/docker';

export interface BuildkitCacheEnv {
  repoDir: string;
  scratchDir: string;
  runDir: string;
  busyboxTar: string;
  log(line: string): void;
}

export interface BuildkitCacheResult {
  /** Warm no-op rebuild + push on the daemon that built it. */
  warmMs: number;
  /** Fresh daemon, `--cache-from`: build + push, one per sample. */
  freshMs: number[];
  freshBytes: number[];
  /** Fewest steps a fresh build reported CACHED (to show the import worked in every sample). */
  cachedSteps: number;
}

export async function buildkitUnavailable(): Promise<string | undefined> {
  if (!(await findExecutable(DOCKER)) || !(await findExecutable('dockerd'))) return 'docker.io (dockerd) not installed';
  if (process.getuid?.() !== 0) return 'needs root to start its own dockerd';
  return undefined;
}

interface Daemon {
  docker(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

async function startDaemon(env: BuildkitCacheEnv, name: string): Promise<Daemon> {
  const sock = join(env.runDir, `${name}.sock`);
  const stateDir = join(env.runDir, `${name}-state`);
  const execRoot = join(env.runDir, `${name}-exec`);
  const dataRoot = join(env.scratchDir, name);
  await mkdir(env.runDir, { recursive: true });
  const daemonEnv = { ...process.env, DOCKERD_SOCK: sock, DOCKERD_DATA_ROOT: dataRoot, DOCKERD_EXEC_ROOT: execRoot, DOCKERD_STATE_DIR: stateDir };
  await runCommand('bash', [join(env.repoDir, 'scripts/start-dockerd.sh')], { env: daemonEnv });
  // BuildKit's plain progress (where CACHED shows) goes to stderr.
  const docker = async (args: string[]): Promise<string> => {
    const result = await runCommand(DOCKER, ['-H', `unix://${sock}`, ...args], { env: { ...process.env, DOCKER_BUILDKIT: '1' } });
    return result.stdout + result.stderr;
  };
  await docker(['load', '-i', env.busyboxTar]);
  return {
    docker,
    async stop() {
      await runCommand('bash', [join(env.repoDir, 'scripts/stop-dockerd.sh')], { env: daemonEnv, allowFailure: true });
      await unmountTree(execRoot);
      await unmountTree(dataRoot);
      await rm(dataRoot, { recursive: true, force: true });
    },
  };
}

/** `registry` is the counting relay in front of the loopback registry; `context` the same project builder built. */
export async function runBuildkitCacheImport(env: BuildkitCacheEnv, registry: ByteProxy, context: string, samples: number): Promise<BuildkitCacheResult> {
  const source = `${registry.host}/bench/bk:1`;
  const build = (daemon: Daemon, tag: string, extra: string[]): Promise<string> =>
    daemon.docker(['build', '--network=host', '--progress=plain', ...extra, '-t', tag, context]);
  const timed = async (work: () => Promise<unknown>): Promise<number> => {
    const start = performance.now();
    await work();
    return performance.now() - start;
  };
  let warmMs = 0;
  const maker = await startDaemon(env, 'bk-maker');
  try {
    await build(maker, source, ['--build-arg', 'BUILDKIT_INLINE_CACHE=1']);
    await maker.docker(['push', source]);
    warmMs = await timed(async () => {
      await build(maker, source, ['--build-arg', 'BUILDKIT_INLINE_CACHE=1']);
      await maker.docker(['push', source]);
    });
  } finally {
    await maker.stop();
  }
  const freshMs: number[] = [];
  const freshBytes: number[] = [];
  let cachedSteps = 0;
  for (let i = 0; i < samples; i++) {
    const fresh = await startDaemon(env, `bk-fresh-${i}`);
    try {
      const tag = source; // the same reference the first daemon pushed, as ours
      let output = '';
      registry.reset();
      freshMs.push(await timed(async () => {
        // Inline cache again: the push replaces the tag the next fresh daemon imports (as a farm worker would).
        output = await build(fresh, tag, ['--cache-from', source, '--build-arg', 'BUILDKIT_INLINE_CACHE=1']);
        await fresh.docker(['push', tag]);
      }));
      freshBytes.push(registry.bytes());
      cachedSteps = Math.min(...[cachedSteps || Infinity, (output.match(/ CACHED$/gm) ?? []).length]);
      env.log(`shared-cache: buildkit fresh ${freshMs.at(-1)!.toFixed(0)} ms, ${freshBytes.at(-1)} bytes, ${cachedSteps} steps CACHED`);
    } finally {
      await fresh.stop();
    }
  }
  return { warmMs, freshMs, freshBytes, cachedSteps };
}
