/**
 * The shared-cache bench's first case (a warm no-op rebuild + push against a fresh worker's build + push of the same
 * commit), for two builds of builder in one process, interleaved sample by sample: this tree's dist and another
 * tree's (`OTHER`, e.g. a clone of main with `npm run build` done). A diagnostic, not a bench row.
 *
 * Why: on the shared 2-core machine the section's 9-sample medians of one code moved from 12 to 29 ms between runs
 * a minute apart (docs/ARCHITECTURE.md, shared cache, fourth pass), more than any change tried there; samples of A and
 * B taken side by side see the same load, so their medians compare where two runs cannot.
 *
 * `node dist/scripts/bench-lib/shared-cache-ab.js OTHER SCRATCH BUSYBOX_TAR [samples] [--relay]`; prints one JSON line.
 * Each side has its own Redis (so neither reads the other's records) and its own repositories on one registry;
 * `--relay` sends pushes through the bench's counting relay, as the section does.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Engine } from '../../builder/engine.js';
import { startRedis } from '../../test/helpers/redis-server.js';
import { startRegistry } from '../../test/helpers/registry-server.js';
import { startByteProxy } from './byte-proxy.js';
import { runCommand } from './proc.js';
import { median } from './report.js';
import { builderBin } from './builder-bin.js';

const args = process.argv.slice(2).filter((a) => a !== '--relay');
const relay = process.argv.includes('--relay');
const [other, scratch, busyboxTar, samplesArg] = args;
if (!other || !scratch || !busyboxTar) throw new Error('usage: shared-cache-ab OTHER SCRATCH BUSYBOX_TAR [samples] [--relay]');
const samples = Number(samplesArg ?? 30);
const here = new URL('../../..', import.meta.url).pathname;

interface Side {
  name: string;
  repoDir: string;
  engineModule: typeof import('../../builder/engine.js');
  configModule: typeof import('../../builder/config.js');
  redisUrl: string;
  warm: number[];
  fresh: number[];
}

// As in the section: the registry's storage on tmpfs (a farm's registry is another machine, not this disk).
const registry = await startRegistry({ parentDir: existsSync('/dev/shm') ? '/dev/shm' : undefined });
const proxy = relay ? await startByteProxy(registry.host) : undefined;
const host = proxy?.host ?? registry.host;
const redises = await Promise.all([startRedis(), startRedis()]);
const engines: Engine[] = [];
const load = async (name: string, repoDir: string, redisUrl: string): Promise<Side> => ({
  name, repoDir, redisUrl, warm: [], fresh: [],
  engineModule: (await import(join(repoDir, 'dist/builder/engine.js'))) as Side['engineModule'],
  configModule: (await import(join(repoDir, 'dist/builder/config.js'))) as Side['configModule'],
});
const sides = [await load('this', here, redises[0].url), await load('other', resolve(other), redises[1].url)];
let counter = 0;
const worker = async (side: Side): Promise<Engine> => {
  const root = join(scratch, `ab-${process.pid}-${++counter}`);
  await mkdir(root, { recursive: true });
  await runCommand(builderBin(side.repoDir), ['load', '-i', busyboxTar], { env: { ...process.env, BUILDER_ROOT: root } });
  const engine = await side.engineModule.createEngine({
    root, workerName: `ab-${counter}`, cache: { type: 'tiered', redisUrl: side.redisUrl, repo: `${registry.host}/cache/ab-${side.name}` },
  });
  engines.push(engine);
  return engine;
};
const dir = join(scratch, `ab-ctx-${process.pid}`);
await mkdir(join(dir, 'src'), { recursive: true });
await writeFile(join(dir, 'Dockerfile'), ['FROM busybox', "RUN head -c 2000000 /dev/zero | tr '\\0' 'a' > /deps.bin", 'COPY src/ /app/',
  'RUN cat /app/*.txt > /app/all', 'ENV MODE=bench', 'CMD ["cat", "/app/all"]', ''].join('\n'));
await writeFile(join(dir, 'src', 'main.txt'), 'fresh-a edit 1\n');
const build = async (side: Side, engine: Engine): Promise<number> => {
  const start = process.hrtime.bigint();
  await engine.build({ contextDir: dir, dockerfilePath: join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [`${host}/bench/ab-${side.name}:1`],
    buildArgs: {}, noCache: false, network: 'none', push: { config: side.configModule.emptyConfig() } });
  return Number(process.hrtime.bigint() - start) / 1e6;
};
try {
  const makers = new Map<Side, Engine>();
  for (const side of sides) {
    const maker = await worker(side);
    await build(side, maker);
    makers.set(side, maker);
  }
  for (let i = 0; i < samples; i++) {
    // Which side goes first alternates, so neither always follows the other's fresh store and its writeback.
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
      await runCommand('sync', []);
      side.warm.push(await build(side, makers.get(side)!));
      const engine = await worker(side);
      await runCommand('sync', []);
      side.fresh.push(await build(side, engine));
      await engine.close();
      engines.splice(engines.indexOf(engine), 1);
      // A used fresh store goes (200 samples a side left ~7 GB of busybox stores in SCRATCH); outside the timing.
      await rm(engine.store.root, { recursive: true, force: true });
    }
  }
  // Each side's warm and fresh samples are taken back to back: the median of those pairs' ratios beside the ratio of medians.
  const row = (side: Side) => ({
    warm: +median(side.warm).toFixed(1), fresh: +median(side.fresh).toFixed(1), ratio: +(median(side.fresh) / median(side.warm)).toFixed(2),
    pairedRatio: +median(side.fresh.map((ms, i) => ms / side.warm[i]!)).toFixed(2),
  });
  console.log(JSON.stringify({ samples, relay, this: row(sides[0]!), other: { dir: resolve(other), ...row(sides[1]!) } }));
} finally {
  for (const engine of engines) await engine.close();
  await proxy?.stop();
  await registry.stop();
  for (const redis of redises) await redis.stop();
}
