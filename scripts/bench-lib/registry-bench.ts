/**
 * Registry benches: push of the 300 MB bench image (test-dockerfiles/bench-big) to a local docker-registry,
 * and pull of it into an empty store, each against `skopeo copy` of the same image in the same run.
 * The "ours" column runs our CLI; the second column is skopeo, which the bench harness knows as part of
 * the buildah tool (it checks that skopeo is installed), so that column is keyed to that tool.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry, type RegistryServer } from '../../test/helpers/registry-server.js';
import type { BenchCase, BenchSection } from './cases.js';
import { runCommand } from './proc.js';
import type { BenchTool } from './tool.js';
import { builderBin } from './builder-bin.js';

const WORK_DIR = `/var/tmp/builder-registry-bench-${process.pid}`;
const IMAGE = 'bench-big:bench';

interface BenchState {
  sourceRoot: string;
  registry?: RegistryServer;
}

let state: Promise<BenchState> | undefined;
/** prepare/measure calls under way: 'beforeExit' can fire mid-way (the registry is unref'd), and must wait. */
let inFlight = 0;

async function tracked<T>(task: () => Promise<T>): Promise<T> {
  inFlight++;
  try {
    return await task();
  } finally {
    inFlight--;
  }
}

function cli(repoDir: string, root: string, args: string[]): Promise<unknown> {
  return runCommand(builderBin(repoDir), args, { cwd: repoDir, env: { ...process.env, BUILDER_ROOT: root } });
}

/** Once per run: a store holding the built bench-big image (untimed). */
function prepared(repoDir: string): Promise<BenchState> {
  state ??= (async () => {
    process.on('beforeExit', () => {
      if (inFlight === 0 && state) void cleanup();
    });
    const sourceRoot = join(WORK_DIR, 'source');
    await mkdir(sourceRoot, { recursive: true });
    const busyboxTar = (await runCommand('bash', [join(repoDir, 'scripts/make-busybox.sh'), '--tar-only'])).stdout.trim();
    await cli(repoDir, sourceRoot, ['load', '-i', busyboxTar]);
    await cli(repoDir, sourceRoot, ['build', '-t', IMAGE, '--network=host', '--progress=quiet', join(repoDir, 'test-dockerfiles', 'bench-big')]);
    return { sourceRoot };
  })();
  return state;
}

async function cleanup(): Promise<void> {
  const current = await state?.catch(() => undefined);
  state = undefined;
  await current?.registry?.stop();
  await rm(WORK_DIR, { recursive: true, force: true });
}

/** A fresh, empty registry for every sample: nothing from an earlier sample can be skipped. */
async function freshRegistry(current: BenchState): Promise<RegistryServer> {
  await current.registry?.stop();
  current.registry = await startRegistry({ unref: true });
  return current.registry;
}

const isOurs = (tool: BenchTool): boolean => tool.id === 'builder';
const supports = (tool: BenchTool): boolean => tool.id === 'builder' || tool.id === 'buildah';

function pushCase(repoDir: string, samples: number): BenchCase {
  return {
    id: 'registry-push',
    title: 'push bench-big (300 MB) to a local registry',
    samples,
    supports,
    prepare: () => tracked(async () => {
      await freshRegistry(await prepared(repoDir));
    }),
    measure: (tool) => tracked(async () => {
      const current = await prepared(repoDir);
      const target = `${current.registry!.host}/bench/big:${tool.id}`;
      if (isOurs(tool)) await cli(repoDir, current.sourceRoot, ['push', '--quiet', IMAGE, target]);
      else await runCommand('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${join(current.sourceRoot, 'oci')}:${IMAGE}`, `docker://${target}`]);
    }),
  };
}

function pullCase(repoDir: string, samples: number): BenchCase {
  const target = join(WORK_DIR, 'pulled');
  return {
    id: 'registry-pull',
    title: 'pull bench-big (300 MB) into an empty store',
    samples,
    supports,
    prepare: () => tracked(async () => {
      const current = await prepared(repoDir);
      const registry = await freshRegistry(current);
      // Seeded with skopeo, so neither side pulls something it pushed itself.
      await runCommand('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${join(current.sourceRoot, 'oci')}:${IMAGE}`, `docker://${registry.host}/bench/big:latest`]);
      await rm(target, { recursive: true, force: true });
      await mkdir(target, { recursive: true });
    }),
    measure: (tool) => tracked(async () => {
      const current = await prepared(repoDir);
      const source = `${current.registry!.host}/bench/big:latest`;
      if (isOurs(tool)) await cli(repoDir, target, ['pull', '--quiet', source]);
      else await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${source}`, `oci:${join(target, 'oci')}:big`]);
    }),
  };
}

/** The registry section of BENCHMARKS.md. */
export function registrySection(repoDir: string, samples = 3): BenchSection {
  return {
    id: 'registry',
    title: 'Registry push and pull',
    description:
      'bench-big (one 300 MB gzip layer on busybox) pushed from a store to a fresh local docker-registry (http on ' +
      '127.0.0.1), and pulled from it into an empty directory. Ours is `builder push` / `builder pull`; the other ' +
      'column is `skopeo copy` between an OCI layout and the registry (same bytes, same disk). Median of ' + samples + '.',
    columns: [
      { toolId: 'builder', label: 'ours' },
      { toolId: 'buildah', label: 'skopeo copy' },
    ],
    cases: [pushCase(repoDir, samples), pullCase(repoDir, samples)],
  };
}
