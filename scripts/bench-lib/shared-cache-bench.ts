/**
 * The farm's shared cache (`npm run bench`, section `shared-cache`): real Redis and docker-registry on loopback,
 * engines in this process standing for workers with their own stores on the bench scratch fs.
 * - fresh worker: a store with only busybox builds and pushes a commit another worker built (shared cache);
 *   against a warm local no-op rebuild + push, and against the same fresh build with no shared cache.
 * - farm: three workers with empty stores, 30 builds of 5 small projects with edits between them, submitted at once
 *   (10 rounds of 3 builds); hit ratio and latency with the shared cache and without.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createEngine, type CacheOptions, type Engine, type EngineBuildResult } from '../../builder/engine.js';
import { pushImage } from '../../builder/registry/push.js';
import { startRedis } from '../../test/helpers/redis-server.js';
import { startRegistry } from '../../test/helpers/registry-server.js';
import { runCommand } from './proc.js';
import { formatDuration, median } from './report.js';

export interface SharedCacheBenchEnv {
  repoDir: string;
  scratchDir: string;
  busyboxTar: string;
  log(line: string): void;
}

const PROJECTS = 5;
const ROUNDS = 10;
const WORKERS = 3;

export async function runSharedCacheBench(env: SharedCacheBenchEnv): Promise<string> {
  const [redis, registry] = await Promise.all([startRedis(), startRegistry()]);
  const engines: Engine[] = [];
  let counter = 0;
  const worker = async (cache: CacheOptions): Promise<Engine> => {
    const root = join(env.scratchDir, `shared-cache-${++counter}`);
    await mkdir(root, { recursive: true });
    await runCommand(process.execPath, [join(env.repoDir, 'dist/builder/cli/main.js'), 'load', '-i', env.busyboxTar], { env: { ...process.env, BUILDER_ROOT: root } });
    const engine = await createEngine({ root, workerName: `bench-${counter}`, cache });
    engines.push(engine);
    return engine;
  };
  const shared = (repo: string): CacheOptions => ({ type: 'tiered', redisUrl: redis.url, repo: `${registry.host}/${repo}` });
  const project = async (name: string, edit: number): Promise<string> => {
    const dir = join(env.scratchDir, `shared-cache-ctx-${name}`);
    await mkdir(join(dir, 'src'), { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), [
      'FROM busybox', `RUN head -c 2000000 /dev/zero | tr '\\0' '${name.slice(-1)}' > /deps.bin`, 'COPY src/ /app/',
      'RUN cat /app/*.txt > /app/all', 'ENV MODE=bench', 'CMD ["cat", "/app/all"]', '',
    ].join('\n'));
    await writeFile(join(dir, 'src', 'main.txt'), `${name} edit ${edit}\n`);
    return dir;
  };
  const build = async (engine: Engine, dir: string, tag?: string): Promise<EngineBuildResult> => engine.build({
    contextDir: dir, dockerfilePath: join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: tag ? [tag] : [], buildArgs: {}, noCache: false, network: 'none',
  });
  const timed = async <T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> => {
    const start = process.hrtime.bigint();
    const value = await work();
    return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
  };
  const uploaded = (result: Awaited<ReturnType<typeof pushImage>>, sizes: Map<string, number>): number =>
    Object.entries(result.blobs ?? {}).filter(([, outcome]) => outcome === 'uploaded').reduce((sum, [digest]) => sum + (sizes.get(digest) ?? 0), 0);
  try {
    // 1. A fresh worker builds + pushes what another built.
    const dir = await project('fresh-a', 1);
    const maker = await worker(shared('cache/fresh'));
    const tag = `${registry.host}/bench/fresh:1`;
    await build(maker, dir, tag);
    await pushImage(maker.store, tag, tag);
    const sizes = new Map((await maker.store.resolve(tag))!.manifest.layers.map((l) => [l.digest, l.size] as [string, number]));
    const warm = await timed(async () => { await build(maker, dir, tag); return pushImage(maker.store, tag, tag); });
    const fresh = await worker(shared('cache/fresh'));
    const freshRun = await timed(async () => {
      const result = await build(fresh, dir, `${registry.host}/bench/fresh:2`);
      return { result, push: await pushImage(fresh.store, `${registry.host}/bench/fresh:2`, `${registry.host}/bench/fresh:2`) };
    });
    const cold = await worker({ type: 'local' });
    const coldRun = await timed(async () => {
      await build(cold, dir, `${registry.host}/bench/cold:1`);
      return pushImage(cold.store, `${registry.host}/bench/cold:1`, `${registry.host}/bench/cold2:1`);
    });
    const coldSizes = new Map((await cold.store.resolve(`${registry.host}/bench/cold:1`))!.manifest.layers.map((l) => [l.digest, l.size] as [string, number]));
    env.log(`shared-cache: warm ${warm.ms.toFixed(0)} ms, fresh ${freshRun.ms.toFixed(0)} ms, cold ${coldRun.ms.toFixed(0)} ms`);

    // 2. Three workers, 30 builds of 5 projects with edits, 3 at a time (one per worker), with and without sharing.
    const farm = async (cache: (i: number) => CacheOptions, label: string): Promise<{ ratio: number; latencies: number[]; seconds: number }> => {
      const pool = await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(cache(i))));
      let hits = 0;
      let lookups = 0;
      const latencies: number[] = [];
      const started = Date.now();
      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all(pool.map(async (engine, w) => {
          const index = (round * WORKERS + w) % PROJECTS;
          // Every other visit of a project carries an edit; builds land on whichever worker is next.
          const dirOf = await project(`${label}-p${index}`, Math.floor(round / 2));
          const { ms, value } = await timed(() => build(engine, dirOf));
          latencies.push(ms);
          const stepHits = Object.values(value.cache.hits).reduce((a, b) => a + b, 0);
          hits += stepHits;
          lookups += stepHits + value.cache.misses;
        }));
      }
      const seconds = (Date.now() - started) / 1000;
      env.log(`shared-cache: ${label}: hit ratio ${(hits / lookups).toFixed(2)}, ${seconds.toFixed(1)} s`);
      return { ratio: hits / lookups, latencies, seconds };
    };
    const withSharing = await farm(() => shared('cache/farm'), 'shared');
    const without = await farm(() => ({ type: 'local' }), 'local');
    const p95 = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)]!;
    const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;
    const freshMoved = freshRun.value.result.cache.bytesFetched + uploaded(freshRun.value.push, sizes);
    return [
      '## Shared cache (Redis index + registry blobs)',
      '',
      'Engines in the bench process stand for workers with their own stores (scratch fs); Redis and docker-registry on loopback.',
      'A project: FROM busybox, a RUN writing 2 MB, COPY src/, a RUN over it, ENV, CMD.',
      'Run once on the shared 2-core machine while other sessions were busy: read the numbers as relative, not absolute.',
      '',
      '| a commit another worker built, then pushed | time | layer bytes moved |',
      '| --- | ---: | ---: |',
      `| warm local no-op rebuild + push (same worker) | ${formatDuration(warm.ms)} | ${mb(uploaded(warm.value, sizes))} |`,
      `| fresh worker, shared cache: build + push | ${formatDuration(freshRun.ms)} | ${mb(freshMoved)} |`,
      `| fresh worker, no shared cache: build + push | ${formatDuration(coldRun.ms)} | ${mb(uploaded(coldRun.value, coldSizes))} |`,
      '',
      `| ${WORKERS} workers, ${ROUNDS * WORKERS} builds of ${PROJECTS} projects with edits | step hit ratio | total | p50 | p95 |`,
      '| --- | ---: | ---: | ---: | ---: |',
      `| shared cache (tiered) | ${withSharing.ratio.toFixed(2)} | ${withSharing.seconds.toFixed(1)} s | ${formatDuration(median(withSharing.latencies))} | ${formatDuration(p95(withSharing.latencies))} |`,
      `| local caches only | ${without.ratio.toFixed(2)} | ${without.seconds.toFixed(1)} s | ${formatDuration(median(without.latencies))} | ${formatDuration(p95(without.latencies))} |`,
      '',
      'Not measured here: BuildKit importing the same cache (`--cache-from` with `BUILDKIT_INLINE_CACHE=1` on a fresh dockerd).',
    ].join('\n');
  } finally {
    for (const engine of engines) await engine.close();
    await registry.stop();
    await redis.stop();
  }
}
