/**
 * Docker/BuildKit as the oracle for test-dockerfiles: the same case built by the real dockerd must
 * give what expect.json says. dockerd's own busybox may differ from our fixture (no `app` user), so
 * cases build FROM our fixture loaded as ORACLE_BASE instead.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expectSuccess, repoRoot, runCommand, type CliResult } from './cli.js';
import type { DockerfileCase, Engine } from './cases.js';
import { busyboxArchive } from './busybox-fixture.js';

/** Debian's client (BuildKit-capable without buildx); /usr/local/bin/docker may be a newer one without buildx. */
export const DOCKER = '/usr/bin/docker';
/** Per test process: concurrent runs (and their cleanup) must not delete each other's base. */
export const ORACLE_BASE = `builder-oracle-base-${process.pid}`;

export async function dockerReachable(): Promise<boolean> {
  try {
    return (await runCommand(DOCKER, ['info'], { timeoutMs: 20_000 })).code === 0;
  } catch {
    return false; // no docker binary at all
  }
}

/** Whether a dockerd answers, and whether this process started it (then only it may stop it). */
export interface DockerdState {
  reachable: boolean;
  startedByUs: boolean;
  /** Why it is not reachable, in words for the test log. */
  reason?: string;
}

/** Starts dockerd through scripts/start-dockerd.sh when none answers (root, docker.io installed). */
export async function ensureDockerd(): Promise<DockerdState> {
  if (await dockerReachable()) return { reachable: true, startedByUs: false };
  const script = path.join(repoRoot, 'scripts', 'start-dockerd.sh');
  const start = await runCommand('bash', [script], { timeoutMs: 60_000 });
  if (start.code !== 0) return { reachable: false, startedByUs: false, reason: (start.stderr || start.stdout).trim() };
  return { reachable: await dockerReachable(), startedByUs: /started dockerd/.test(start.stdout) };
}

/** Stops the daemon ensureDockerd started; a daemon somebody else runs is left alone. */
export async function stopDockerd(state: DockerdState): Promise<void> {
  if (state.startedByUs) await runCommand('bash', [path.join(repoRoot, 'scripts', 'stop-dockerd.sh')], { timeoutMs: 60_000 });
}

/**
 * Loads the very fixture builder uses into dockerd, named ORACLE_BASE so the lead's busybox:latest
 * there is left alone (skopeo names it on the way in; `docker load` would keep busybox:latest).
 */
export async function loadOracleBase(scratchDir: string): Promise<void> {
  const archive = await busyboxArchive(scratchDir);
  // skopeo ignores DOCKER_HOST unless told, and would load into the default daemon instead.
  const daemon = process.env.DOCKER_HOST ? ['--dest-daemon-host', process.env.DOCKER_HOST] : [];
  const copy = await runCommand('skopeo', ['copy', '-q', ...daemon, `docker-archive:${archive}`, `docker-daemon:${ORACLE_BASE}:latest`]);
  expectSuccess(copy, 'skopeo copy busybox fixture into dockerd');
}

/** `FROM [--flag…] busybox`, `--from=busybox`, `ARG X=busybox` → the oracle base; `/bin/busybox` is left alone. */
export function rewriteBase(dockerfile: string): string {
  // Case-sensitive on the name: `FROM Busybox` must stay the invalid reference it is.
  return dockerfile.replace(/(?<=^[Ff][Rr][Oo][Mm]\s+(?:--\S+\s+)*|--from=|=)busybox\b/gm, ORACLE_BASE);
}

/** `docker save`s `tag` and unpacks the archive into `dir` (read it with readDockerArchiveDir). */
export async function saveDockerImage(tag: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const archive = `${dir}.tar`;
  expectSuccess(await runCommand(DOCKER, ['save', '-o', archive, tag]), `docker save ${tag}`);
  expectSuccess(await runCommand('tar', ['-xf', archive, '-C', dir]), `unpack docker save of ${tag}`);
}

/** `scratchDir` holds the rewritten Dockerfiles; the caller removes it. */
export function dockerEngine(scratchDir: string): Engine {
  return {
    async build(testCase: DockerfileCase, tag: string, context: string): Promise<CliResult> {
      const dir = await mkdtemp(path.join(scratchDir, 'df-'));
      const dockerfile = path.join(dir, 'Dockerfile');
      await writeFile(dockerfile, rewriteBase(await readFile(testCase.dockerfile, 'utf8')));
      // BuildKit looks for <Dockerfile>.dockerignore beside the Dockerfile it is given.
      const ignoreFile = `${testCase.dockerfile}.dockerignore`;
      if (existsSync(ignoreFile)) await copyFile(ignoreFile, `${dockerfile}.dockerignore`);
      return runCommand(DOCKER, ['build', '--network=host', '-q', '-t', tag, '-f', dockerfile, ...(testCase.expect.args ?? []), context], {
        env: { DOCKER_BUILDKIT: '1' },
      });
    },
    async config(tag: string): Promise<Record<string, unknown>> {
      const inspect = expectSuccess(await runCommand(DOCKER, ['image', 'inspect', tag]), 'docker image inspect');
      const [image] = JSON.parse(inspect.stdout) as { Config: Record<string, unknown> }[];
      return image!.Config;
    },
    run(tag: string, cmd: string[]): Promise<CliResult> {
      return runCommand(DOCKER, ['run', '--rm', '--network=none', tag, ...cmd]);
    },
  };
}
