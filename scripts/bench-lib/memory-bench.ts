/**
 * Peak memory of the CLI on the 300 MB bench image (`npm run bench`, section `memory`): `builder build` of
 * test-dockerfiles/bench-big into a fresh store, `builder push` of it to a fresh local docker-registry and
 * `builder pull` of it into an empty store. Peak RSS is GNU time's maximum resident set size (wait4's ru_maxrss:
 * the largest process of the command's tree that it waited for), so it is exact, not sampled. The worker's RSS over
 * 50 builds is in the farm section, which already runs those builds.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry } from '../../test/helpers/registry-server.js';
import { runCommand } from './proc.js';
import { builderBin } from './builder-bin.js';

const SAMPLES = 3;
const IMAGE = 'bench-big:bench';

/** What the memory bench needs from the harness. */
export interface MemoryBenchEnv {
  repoDir: string;
  scratchDir: string;
  busyboxTar: string;
  log(line: string): void;
}

/** Runs `args` of our CLI on store `root` under GNU time; returns the peak RSS in KiB and the wall time in s. */
async function measured(env: MemoryBenchEnv, root: string, args: string[]): Promise<{ peakKiB: number; seconds: number }> {
  const report = join(env.scratchDir, `memory-time-${process.pid}.txt`);
  const cli = builderBin(env.repoDir);
  await runCommand('/usr/bin/time', ['-f', '%M %e', '-o', report, cli, ...args], { cwd: env.repoDir, env: { ...process.env, BUILDER_ROOT: root } });
  const [peak, seconds] = (await readFile(report, 'utf8')).trim().split(/\s+/).slice(-2).map(Number);
  await rm(report, { force: true });
  return { peakKiB: peak!, seconds: seconds! };
}

const mib = (kib: number): string => `${(kib / 1024).toFixed(0)} MiB`;
const maxOf = (values: number[]): number => Math.max(...values);

/** Runs the memory bench and returns the BENCHMARKS.md section body (without markers). */
export async function runMemoryBench(env: MemoryBenchEnv): Promise<string> {
  const rows: Array<{ label: string; peaks: number[]; seconds: number[] }> = [
    { label: '`builder build` bench-big (cold, fresh store)', peaks: [], seconds: [] },
    { label: '`builder push` bench-big to a fresh registry', peaks: [], seconds: [] },
    { label: '`builder pull` bench-big into an empty store', peaks: [], seconds: [] },
  ];
  const work = join(env.scratchDir, 'memory-bench');
  for (let sample = 0; sample < SAMPLES; sample++) {
    await rm(work, { recursive: true, force: true });
    const source = join(work, 'source');
    const pulled = join(work, 'pulled');
    await mkdir(source, { recursive: true });
    await mkdir(pulled, { recursive: true });
    await runCommand(builderBin(env.repoDir), ['load', '-i', env.busyboxTar], { env: { ...process.env, BUILDER_ROOT: source } });
    const registry = await startRegistry();
    try {
      const target = `${registry.host}/bench/memory:latest`;
      const steps: string[][] = [
        ['build', '-t', IMAGE, '--network=host', '--progress=quiet', join(env.repoDir, 'test-dockerfiles', 'bench-big')],
        ['push', '--quiet', IMAGE, target],
        ['pull', '--quiet', target],
      ];
      for (const [i, args] of steps.entries()) {
        const result = await measured(env, i === 2 ? pulled : source, args);
        rows[i]!.peaks.push(result.peakKiB);
        rows[i]!.seconds.push(result.seconds);
      }
    } finally {
      await registry.stop();
    }
  }
  await rm(work, { recursive: true, force: true });
  for (const row of rows) env.log(`memory: ${row.label}: peak RSS ${row.peaks.map(mib).join(', ')}`);
  return [
    '## Memory (peak RSS)',
    '',
    `Peak resident set size (GNU time's maximum RSS, the largest process of the command's tree) of our CLI on`,
    `bench-big (one 300 MB layer, 208 MB gzipped), ${SAMPLES} samples; a fresh store and registry each time. The farm`,
    'section reports a worker\'s RSS over its 50 sequential builds.',
    '',
    '| command | peak RSS (max of samples) | samples | wall (s) |',
    '| --- | ---: | --- | --- |',
    ...rows.map((row) => `| ${row.label} | ${mib(maxOf(row.peaks))} | ${row.peaks.map(mib).join(', ')} | ${row.seconds.map((s) => s.toFixed(2)).join(', ')} |`),
  ].join('\n');
}
