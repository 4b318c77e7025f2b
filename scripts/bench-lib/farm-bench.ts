/**
 * The build farm's queue overhead and throughput (`npm run bench`, section `farm`): a real Redis, the API
 * on a loopback port, `builder worker` child processes with stores on the bench scratch fs.
 * - in:  POST /v1/builds sent → the first step.start event (its worker timestamp)
 * - out: the last step.done event → GET /v1/builds/:id answering `succeeded`
 * - throughput: 50 builds submitted at once, with 1 and with 2 workers
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import tar from 'tar-stream';
import { buildApp } from '../../api/app.js';
import { farmConfig } from '../../api/farm-config.js';
import { farmContext } from '../../api/server.js';
import type { BuildEvent } from '../../builder/events.js';
import { startRedis } from '../../test/helpers/redis-server.js';
import { runCommand } from './proc.js';
import { formatDuration, median } from './report.js';
import { builderBin } from './builder-bin.js';

const BUILDS = 50;
const TOKEN = 'bench-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** What the farm bench needs from the harness. */
export interface FarmBenchEnv {
  repoDir: string;
  scratchDir: string;
  busyboxTar: string;
  log(line: string): void;
}

/** A build context holding only `dockerfile`, as the tar the API's upload takes. */
export function contextTar(dockerfile: string): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => { chunks.push(chunk as Buffer); });
  const ended = new Promise<Buffer>((resolve) => pack.on('end', () => resolve(Buffer.concat(chunks))));
  pack.entry({ name: 'Dockerfile', mode: 0o644 }, dockerfile);
  pack.finalize();
  return ended;
}

/** Runs the farm bench and returns the BENCHMARKS.md section body (without markers). */
export async function runFarmBench(env: FarmBenchEnv): Promise<string> {
  const redis = await startRedis();
  const queue = `bench-${randomUUID()}`;
  const vars = { BUILDER_API_TOKENS: `bench:${TOKEN}`, BUILDER_REDIS_URL: redis.url, BUILDER_QUEUE: queue };
  const farm = farmConfig({}, vars);
  const ctx = farmContext(farm);
  const app = await buildApp(ctx);
  const workers: ChildProcess[] = [];
  const workerMemory: WorkerMemory[][] = [];
  const roots: string[] = [];
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const startWorker = async (index: number): Promise<void> => {
      const root = join(env.scratchDir, `farm-worker-${index}`);
      await mkdir(root, { recursive: true });
      roots.push(root);
      const cli = builderBin(env.repoDir);
      await runCommand(cli, ['load', '-i', env.busyboxTar], { env: { ...process.env, BUILDER_ROOT: root } });
      // --heapsnapshot-signal: the live heap (a snapshot is taken after a full GC) is read once, after the last RSS reading.
      const nodeOptions = [process.env.NODE_OPTIONS, '--heapsnapshot-signal=SIGUSR2'].filter(Boolean).join(' ');
      const child = spawn(cli, ['worker'], { cwd: root, env: { ...process.env, ...vars, NODE_OPTIONS: nodeOptions, BUILDER_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
      workers.push(child);
      // The worker's JSON log: `build finished` lines carry process.memoryUsage() (worker/main.ts).
      const memory: WorkerMemory[] = [];
      workerMemory.push(memory);
      let pending = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        const lines = (pending + chunk.toString()).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.includes('"build finished"')) continue;
          const parsed = JSON.parse(line) as { memory?: WorkerMemory };
          if (parsed.memory) memory.push(parsed.memory);
        }
      });
      let output = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); if (output.includes('builder worker ready')) resolve(); });
        child.once('exit', () => reject(new Error(`worker exited: ${output}`)));
      });
    };
    const submit = async (dockerfile: string): Promise<string> => {
      const response = await fetch(`${url}/v1/builds`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/x-tar' }, body: new Uint8Array(await contextTar(dockerfile)) });
      if (response.status !== 202) throw new Error(`submit: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { id: string }).id;
    };
    const waitAll = async (ids: string[]): Promise<void> => {
      for (const id of ids) {
        for (;;) {
          const record = await ctx.records.get(id);
          if (record?.state === 'succeeded') break;
          if (record && record.state !== 'queued' && record.state !== 'running') throw new Error(`build ${id} ${record.state}: ${record.error?.message}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };

    await startWorker(0);
    await waitAll([await submit('FROM busybox\nRUN echo warm-up\n')]);
    const logged = workerMemory[0]!;
    const warmUpLogged = await until(() => logged.length >= 1);
    // The worker's RSS after each sequential build: it must not grow with the number of builds.
    const rssMiB: number[] = [];
    const overheadIn: number[] = [];
    const overheadOut: number[] = [];
    for (let i = 0; i < BUILDS; i++) {
      const posted = Date.now();
      const id = await submit(`FROM busybox\nRUN echo overhead ${i}\n`);
      const events = await followEvents(`${url}/v1/builds/${id}/logs`);
      const status = (await (await fetch(`${url}/v1/builds/${id}`, { headers: AUTH })).json()) as { state: string };
      const observed = Date.now();
      if (status.state !== 'succeeded') throw new Error(`overhead build ${i}: ${status.state}`);
      const firstStart = events.find((e) => e.type === 'step.start')!;
      const lastDone = events.filter((e) => e.type === 'step.done').at(-1)!;
      overheadIn.push(firstStart.time - posted);
      overheadOut.push(observed - lastDone.time);
      rssMiB.push(await processMemoryMiB(workers[0]!.pid!, 'VmRSS'));
    }
    const peakMiB = await processMemoryMiB(workers[0]!.pid!, 'VmHWM');
    env.log(`farm: worker RSS after builds 1/10/50: ${rssMiB[0]}/${rssMiB[9]}/${rssMiB[BUILDS - 1]} MiB, peak ${peakMiB} MiB`);
    // The worker's own numbers after each build (the warm-up's line first), then its live heap once, now.
    await until(() => logged.length >= BUILDS + (warmUpLogged ? 1 : 0));
    const after = (build: number): WorkerMemory | undefined => logged[build - (warmUpLogged ? 0 : 1)];
    const liveMiB = await liveHeapMiB(workers[0]!, roots[0]!);
    env.log(`farm: worker heapUsed after builds 1/10/50: ${[1, 10, BUILDS].map((b) => after(b)?.heapUsed).join('/')} MiB, live heap after 50: ${liveMiB?.toFixed(1)} MiB`);
    env.log(`farm: queue overhead in ${median(overheadIn)} ms, out ${median(overheadOut)} ms (median of ${BUILDS})`);

    const throughput = async (label: string): Promise<number> => {
      const started = Date.now();
      const ids = await Promise.all(Array.from({ length: BUILDS }, (_, i) => submit(`FROM busybox\nRUN echo ${label} ${i}\n`)));
      await waitAll(ids);
      const seconds = (Date.now() - started) / 1000;
      env.log(`farm: ${BUILDS} builds with ${label}: ${seconds.toFixed(1)} s`);
      return seconds;
    };
    const one = await throughput('1 worker');
    await startWorker(1);
    const two = await throughput('2 workers');

    const p90 = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.9)]!;
    return [
      '## Build farm queue overhead and throughput',
      '',
      `${BUILDS} trivial builds (\`FROM busybox\` + \`RUN echo N\`, a tar upload each) through \`builder serve\` (in the bench process) and`,
      '`builder worker` child processes (concurrency 1, stores on the scratch fs), Redis on loopback. "in": POST sent →',
      'first step.start; "out": last step.done → GET status answers succeeded (includes writing the image). Target: < 50 ms median each way.',
      '',
      '| measure | median | p90 |',
      '| --- | ---: | ---: |',
      `| queue overhead in (POST → first step starts) | ${formatDuration(median(overheadIn))} | ${formatDuration(p90(overheadIn))} |`,
      `| queue overhead out (last step → status shows it) | ${formatDuration(median(overheadOut))} | ${formatDuration(p90(overheadOut))} |`,
      '',
      `| worker memory over ${BUILDS} sequential builds | after build 1 | after 10 | after ${BUILDS} | peak (VmHWM) |`,
      '| --- | ---: | ---: | ---: | ---: |',
      `| RSS | ${rssMiB[0]} MiB | ${rssMiB[9]} MiB | ${rssMiB[BUILDS - 1]} MiB | ${peakMiB} MiB |`,
      `| V8 heap reserved (heapTotal) | ${[1, 10, BUILDS].map((b) => `${after(b)?.heapTotal ?? '?'} MiB`).join(' | ')} | — |`,
      `| V8 heap used (heapUsed: live + garbage not yet collected) | ${[1, 10, BUILDS].map((b) => `${after(b)?.heapUsed ?? '?'} MiB`).join(' | ')} | — |`,
      `| live heap (heap snapshot, after a full GC) | — | — | ${liveMiB === undefined ? '?' : `${liveMiB.toFixed(1)} MiB`} | — |`,
      '',
      '| workers | 50 builds | builds/s |',
      '| ---: | ---: | ---: |',
      `| 1 | ${formatDuration(one * 1000)} | ${(BUILDS / one).toFixed(1)} |`,
      `| 2 | ${formatDuration(two * 1000)} | ${(BUILDS / two).toFixed(1)} |`,
    ].join('\n');
  } finally {
    await Promise.all(workers.map((worker) => new Promise((resolve) => {
      if (worker.exitCode !== null || worker.signalCode !== null) return resolve(undefined);
      worker.once('exit', resolve);
      worker.kill('SIGKILL');
    })));
    // A killed worker leaves its build network (prepared netns, the bridge holder, firewall chains) to whoever uses
    // the store next; the bench's stores go away, so reap them here.
    const { cleanupBuildNetwork } = await import('../../builder/network/build-network.js');
    for (const root of roots) await cleanupBuildNetwork(root).catch(() => undefined);
    await app.close();
    await ctx.queue.obliterate({ force: true }).catch(() => undefined);
    await ctx.records.destroy().catch(() => undefined);
    await ctx.close();
    await redis.stop();
  }
}

/** process.memoryUsage() in MiB, as the worker logs it after each build. */
interface WorkerMemory { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number }

/** Polls `done` for up to 5 s; whether it came true. */
async function until(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 250 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return done();
}

/**
 * The live JS heap of a worker started with --heapsnapshot-signal=SIGUSR2 (cwd `dir`): V8 collects garbage before
 * writing the snapshot, so the nodes' self sizes add up to what is still reachable. Undefined if no snapshot came.
 */
async function liveHeapMiB(worker: ChildProcess, dir: string): Promise<number | undefined> {
  const { readdir, stat, rm } = await import('node:fs/promises');
  worker.kill('SIGUSR2');
  let file: string | undefined;
  let lastSize = -1;
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    file ??= (await readdir(dir)).find((name) => name.endsWith('.heapsnapshot'));
    if (!file) continue;
    const { size } = await stat(join(dir, file));
    if (size > 0 && size === lastSize) break; // written out
    lastSize = size;
  }
  if (!file) return undefined;
  const snapshot = JSON.parse(await readFile(join(dir, file), 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  await rm(join(dir, file), { force: true });
  const fields = snapshot.snapshot.meta.node_fields;
  const selfSize = fields.indexOf('self_size');
  let bytes = 0;
  for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) bytes += snapshot.nodes[i]!;
  return bytes / 1048576;
}

/** A /proc/PID/status memory field (VmRSS, VmHWM) in MiB. */
async function processMemoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 'NaN');
  return Math.round(kib / 1024);
}

/** Reads a build's SSE stream to its end. */
async function followEvents(url: string): Promise<BuildEvent[]> {
  const text = await (await fetch(url, { headers: AUTH })).text();
  return text.split('\n\n').map((block) => /^data: (.*)$/m.exec(block)?.[1]).filter((d): d is string => d !== undefined).map((d) => JSON.parse(d) as BuildEvent);
}
