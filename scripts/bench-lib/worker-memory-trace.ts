/**
 * Where a farm worker's RSS goes over sequential builds (a diagnostic, not a bench row): the farm bench's trivial
 * builds through `builder serve` (in this process) and one `builder worker` child, printing after chosen builds the
 * worker's process.memoryUsage() (its `build finished` log line) beside /proc/PID/smaps_rollup and the anonymous
 * mappings summed by size class, so V8's heap, glibc's arenas and the rest are told apart.
 * `node dist/scripts/bench-lib/worker-memory-trace.js SCRATCH BUSYBOX_TAR [builds] [VAR=value ...]`: the
 * assignments go into the worker's environment (e.g. MALLOC_ARENA_MAX=2, NODE_OPTIONS=--max-semi-space-size=4).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildApp } from '../../api/app.js';
import { farmConfig } from '../../api/farm-config.js';
import { farmContext } from '../../api/server.js';
import { startRedis } from '../../test/helpers/redis-server.js';
import { runCommand } from './proc.js';
import { builderBin } from './builder-bin.js';
import { contextTar } from './farm-bench.js';

const [scratch, busyboxTar, buildsArg, ...assignments] = process.argv.slice(2);
if (!scratch || !busyboxTar) throw new Error('usage: worker-memory-trace SCRATCH BUSYBOX_TAR [builds] [VAR=value ...]');
const builds = Number(buildsArg ?? 50);
const extraEnv = Object.fromEntries(assignments.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
const repoDir = new URL('../../..', import.meta.url).pathname;
const TOKEN = 'trace-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** smaps_rollup's Rss/Anonymous and the anonymous mappings' RSS by mapping size (V8 pages are 256 KiB, arenas 64 MiB). */
const mappings = async (pid: number): Promise<string> => {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string): number => Math.round(Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0) / 1024);
  const smaps = await readFile(`/proc/${pid}/smaps`, 'utf8');
  const classes = new Map<string, number>();
  for (const block of smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const [range, , , , , path] = block.split('\n')[0]!.split(/\s+/);
    const [from, to] = range!.split('-').map((h) => parseInt(h, 16));
    const rss = Number(/^Rss:\s+(\d+) kB/m.exec(block)?.[1] ?? 0);
    const size = (to! - from!) / 1048576;
    const name = path ? (path.startsWith('/') ? 'file' : path) : size >= 60 ? 'anon>=60M' : size >= 1 ? 'anon1-60M' : 'anon<1M';
    classes.set(name, (classes.get(name) ?? 0) + rss);
  }
  const threads = (await readFile(`/proc/${pid}/status`, 'utf8')).match(/^Threads:\s+(\d+)/m)?.[1];
  return `rss ${field('Rss')} anon ${field('Anonymous')} threads ${threads} | ${[...classes].filter(([, kb]) => kb > 512).map(([n, kb]) => `${n} ${(kb / 1024).toFixed(1)}`).join(', ')}`;
};

const redis = await startRedis();
const queue = `trace-${randomUUID()}`;
const vars = { BUILDER_API_TOKENS: `trace:${TOKEN}`, BUILDER_REDIS_URL: redis.url, BUILDER_QUEUE: queue };
const ctx = farmContext(farmConfig({}, vars));
const app = await buildApp(ctx);
const root = join(scratch, `memory-trace-${process.pid}`);
await mkdir(root, { recursive: true });
await runCommand(builderBin(repoDir), ['load', '-i', busyboxTar], { env: { ...process.env, BUILDER_ROOT: root } });
const child = spawn(builderBin(repoDir), ['worker'], { cwd: root, env: { ...process.env, ...vars, ...extraEnv, BUILDER_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
const logged: string[] = [];
/** The worker's own major GCs between builds (worker/heap-trim.ts): their durations. */
const collections: number[] = [];
let pending = '';
child.stdout!.on('data', (chunk: Buffer) => {
  const lines = (pending + chunk.toString()).split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    if (!line.includes('"build finished"')) continue;
    const parsed = JSON.parse(line) as { memory: unknown; gc?: { ms: number } };
    if (parsed.gc) collections.push(parsed.gc.ms);
    logged.push(JSON.stringify(parsed.memory));
  }
});
try {
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); if (output.includes('builder worker ready')) resolve(); });
    child.once('exit', () => reject(new Error(`worker exited: ${output}`)));
  });
  child.once('exit', (code, signal) => { if (signal !== 'SIGKILL') { console.error(`worker exited (${code ?? signal}): ${output.slice(-2000)}`); process.exit(1); } });
  const times: number[] = [];
  const show = new Set([1, 2, 5, 10, 20, 30, 40, 50, 75, 100, 150, 200, builds]);
  for (let i = 1; i <= builds; i++) {
    const started = Date.now();
    const response = await fetch(`${url}/v1/builds`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/x-tar' }, body: new Uint8Array(await contextTar(`FROM busybox\nRUN echo trace ${i}\n`)) });
    const { id } = (await response.json()) as { id: string };
    for (;;) {
      const record = await ctx.records.get(id);
      if (record?.state === 'succeeded') break;
      if (record && record.state !== 'queued' && record.state !== 'running') throw new Error(`build ${id} ${record.state}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const ms = Date.now() - started;
    times.push(ms);
    while (logged.length < i) await new Promise((resolve) => setTimeout(resolve, 10));
    if (show.has(i)) console.log(`build ${String(i).padStart(3)} ${String(ms).padStart(4)} ms ${logged[i - 1]} gcs ${collections.length} (${collections.reduce((a, b) => a + b, 0).toFixed(0)} ms) | ${await mappings(child.pid!)}`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`submit → succeeded: median ${sorted[Math.floor(sorted.length / 2)]} ms over ${builds} builds`);
} finally {
  child.kill('SIGKILL');
  const { cleanupBuildNetwork } = await import('../../builder/network/build-network.js');
  await new Promise((resolve) => child.once('exit', resolve));
  await cleanupBuildNetwork(root).catch(() => undefined);
  await app.close();
  await ctx.queue.obliterate({ force: true }).catch(() => undefined);
  await ctx.records.destroy().catch(() => undefined);
  await ctx.close();
  await redis.stop();
}
