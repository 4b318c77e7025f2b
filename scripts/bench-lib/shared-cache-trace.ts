/**
 * Traces the shared-cache bench's first case (a fresh worker vs a warm no-op rebuild + push, alternating) and prints,
 * per span name, the median duration and start offset on each side: what the fresh build does that the warm one does
 * not. `node dist/scripts/bench-lib/shared-cache-trace.js SCRATCH BUSYBOX_TAR [samples] [--section]` (a diagnostic, not
 * a bench row). `--section` takes the samples as the bench section does (pushes through the counting relay, which
 * side goes first alternating, the fresh store made before both and its engine closed after), so a gap between this
 * tool's medians and the section's can be told apart from the code's.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { emptyConfig } from '../../builder/config.js';
import { createEngine, type Engine } from '../../builder/engine.js';
import { Tracer, type SpanRecord } from '../../builder/trace/tracer.js';
import { startRedis } from '../../test/helpers/redis-server.js';
import { startRegistry } from '../../test/helpers/registry-server.js';
import { startByteProxy } from './byte-proxy.js';
import { runCommand } from './proc.js';
import { median } from './report.js';
import { builderBin } from './builder-bin.js';

const section = process.argv.includes('--section');
const [scratch, busyboxTar, samplesArg] = process.argv.slice(2).filter((a) => a !== '--section');
if (!scratch || !busyboxTar) throw new Error('usage: shared-cache-trace SCRATCH BUSYBOX_TAR [samples]');
const samples = Number(samplesArg ?? 9);
const repoDir = new URL('../../..', import.meta.url).pathname;
// As in the section: the registry's storage on tmpfs (a farm's registry is another machine, not this disk).
const [redis, registry] = await Promise.all([startRedis(), startRegistry({ parentDir: existsSync('/dev/shm') ? '/dev/shm' : undefined })]);
const proxy = section ? await startByteProxy(registry.host) : undefined;
const engines: Engine[] = [];
let counter = 0;
const worker = async (): Promise<Engine> => {
  const root = join(scratch, `trace-${process.pid}-${++counter}`);
  await mkdir(root, { recursive: true });
  await runCommand(builderBin(repoDir), ['load', '-i', busyboxTar], { env: { ...process.env, BUILDER_ROOT: root } });
  const engine = await createEngine({ root, workerName: `trace-${counter}`, cache: { type: 'tiered', redisUrl: redis.url, repo: `${registry.host}/cache/fresh` } });
  engines.push(engine);
  return engine;
};
const dir = join(scratch, `trace-ctx-${process.pid}`);
await mkdir(join(dir, 'src'), { recursive: true });
await writeFile(join(dir, 'Dockerfile'), ['FROM busybox', "RUN head -c 2000000 /dev/zero | tr '\\0' 'a' > /deps.bin", 'COPY src/ /app/',
  'RUN cat /app/*.txt > /app/all', 'ENV MODE=bench', 'CMD ["cat", "/app/all"]', ''].join('\n'));
await writeFile(join(dir, 'src', 'main.txt'), 'fresh-a edit 1\n');
const tag = `${proxy?.host ?? registry.host}/bench/fresh:1`;
const build = async (engine: Engine): Promise<Tracer> => {
  const tracer = new Tracer();
  await engine.build({ contextDir: dir, dockerfilePath: join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [tag], buildArgs: {},
    noCache: false, network: 'none', push: { config: emptyConfig() } }, { tracer });
  return tracer;
};
const sides = { warm: [] as (readonly SpanRecord[])[], fresh: [] as (readonly SpanRecord[])[] };
/** Wall time around engine.build, as the section times it (the root span starts a little later, ends a little before). */
const walls = { warm: [] as number[], fresh: [] as number[] };
const sample = async (side: 'warm' | 'fresh', engine: Engine): Promise<void> => {
  await runCommand('sync', []);
  const start = process.hrtime.bigint();
  const tracer = await build(engine);
  walls[side].push(Number(process.hrtime.bigint() - start) / 1e6);
  // The local save after a push's result, outside the timing and before the next sample (as the section does); its
  // spans are in the trace.
  await engine.idle();
  sides[side].push(tracer.finish());
};
try {
  const maker = await worker();
  await build(maker);
  await maker.idle();
  for (let i = 0; i < samples; i++) {
    if (!section) {
      await sample('warm', maker);
      await sample('fresh', await worker());
      continue;
    }
    const engine = await worker();
    if (i % 2 === 0) { await sample('warm', maker); await sample('fresh', engine); } else { await sample('fresh', engine); await sample('warm', maker); }
    await engine.close();
    engines.splice(engines.indexOf(engine), 1);
    await rm(engine.store.root, { recursive: true, force: true });
  }
  const pairs = walls.fresh.map((ms, i) => ms / walls.warm[i]!);
  console.log(`wall ms (as the section times it): warm ${median(walls.warm).toFixed(1)}, fresh ${median(walls.fresh).toFixed(1)} (${(median(walls.fresh) / median(walls.warm)).toFixed(2)}×; paired ${median(pairs).toFixed(2)}×)`);
  const table = (runs: (readonly SpanRecord[])[]): Map<string, { dur: number[]; at: number[] }> => {
    const out = new Map<string, { dur: number[]; at: number[] }>();
    for (const spans of runs) {
      const root = spans.find((s) => s.parentId === undefined)!;
      for (const s of spans) {
        const entry = out.get(s.name) ?? { dur: [], at: [] };
        entry.dur.push(s.durUs / 1000);
        entry.at.push((s.startUs - root.startUs) / 1000);
        out.set(s.name, entry);
      }
    }
    return out;
  };
  // SHARED_CACHE_TRACE_DUMP=1: the last sample of each side span by span (medians mix a name's occurrences).
  if (process.env.SHARED_CACHE_TRACE_DUMP) {
    for (const [side, runs] of Object.entries(sides)) {
      const spans = runs.at(-1)!;
      const root = spans.find((s) => s.parentId === undefined)!;
      console.log(`-- ${side}, last sample`);
      for (const s of [...spans].sort((a, b) => a.startUs - b.startUs)) console.log(`${s.name.slice(0, 34).padEnd(34)} ${((s.startUs - root.startUs) / 1000).toFixed(2).padStart(7)} +${(s.durUs / 1000).toFixed(2).padStart(6)}`);
    }
  }
  const warm = table(sides.warm);
  const fresh = table(sides.fresh);
  const names = [...new Set([...fresh.keys(), ...warm.keys()])];
  const f = (e: { dur: number[]; at: number[] } | undefined): string => e ? `${median(e.at).toFixed(1).padStart(6)} +${median(e.dur).toFixed(2).padStart(6)} x${(e.dur.length / samples).toFixed(0)}` : '      —              ';
  console.log(`${'span'.padEnd(34)} ${'warm at/dur'.padEnd(22)} fresh at/dur`);
  for (const name of names.sort((a, b) => median((fresh.get(a) ?? warm.get(a))!.at) - median((fresh.get(b) ?? warm.get(b))!.at))) {
    console.log(`${name.slice(0, 34).padEnd(34)} ${f(warm.get(name)).padEnd(22)} ${f(fresh.get(name))}`);
  }
} finally {
  for (const engine of engines) await engine.close();
  await proxy?.stop();
  await registry.stop();
  await redis.stop();
}
