/**
 * Docker/BuildKit as the oracle for test-dockerfiles: the same case built by the real dockerd must
 * give what expect.json says. dockerd's own busybox may differ from our fixture (no `app` user), so
 * cases build FROM our fixture loaded as ORACLE_BASE instead.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expectSuccess, runCommand, type CliResult } from './cli.js';
import type { DockerfileCase, Engine } from './cases.js';
import { busyboxArchive } from './busybox-fixture.js';

/** Debian's client (BuildKit-capable without buildx); /usr/local/bin/docker may be a newer one without buildx. */
export const DOCKER = '/usr/bin/docker';
export const ORACLE_BASE = 'h7-busybox';

export async function dockerReachable(): Promise<boolean> {
  try {
    return (await runCommand(DOCKER, ['info'], { timeoutMs: 20_000 })).code === 0;
  } catch {
    return false; // no docker binary at all
  }
}

/**
 * Loads the very fixture builder uses into dockerd, named ORACLE_BASE so the lead's busybox:latest
 * there is left alone (skopeo names it on the way in; `docker load` would keep busybox:latest).
 */
export async function loadOracleBase(scratchDir: string): Promise<void> {
  const archive = await busyboxArchive(scratchDir);
  const copy = await runCommand('skopeo', ['copy', '-q', `docker-archive:${archive}`, `docker-daemon:${ORACLE_BASE}:latest`]);
  expectSuccess(copy, 'skopeo copy busybox fixture into dockerd');
}

/** `FROM busybox`, `--from=busybox`, `ARG X=busybox` → the oracle base; `/bin/busybox` is left alone. */
export function rewriteBase(dockerfile: string): string {
  return dockerfile.replace(/(?<=^FROM\s+|--from=|=)busybox\b/gim, ORACLE_BASE);
}

/** `scratchDir` holds the rewritten Dockerfiles; the caller removes it. */
export function dockerEngine(scratchDir: string): Engine {
  return {
    async build(testCase: DockerfileCase, tag: string, context: string): Promise<CliResult> {
      const dir = await mkdtemp(path.join(scratchDir, 'df-'));
      const dockerfile = path.join(dir, 'Dockerfile');
      await writeFile(dockerfile, rewriteBase(await readFile(testCase.dockerfile, 'utf8')));
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
