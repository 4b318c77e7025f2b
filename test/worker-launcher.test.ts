/**
 * bin/builder starts `builder worker` with the memory settings of docs/ARCHITECTURE.md ("Worker memory"): a 2 MiB
 * young-generation semi-space and MALLOC_ARENA_MAX=2, unless the user chose their own. Read from the running
 * process: its command line and the environment it was started with (/proc/PID/environ keeps the initial block).
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { startRedis, type RedisServer } from './helpers/redis-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const bin = path.join(new URL('../..', import.meta.url).pathname, 'bin', 'builder');

describe('bin/builder worker memory settings', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let dir: string;
  before(async () => {
    redis = await startRedis();
    dir = await makeTempDir('worker-launcher');
  });
  after(async () => {
    await redis?.stop();
    if (dir) await removeTempDir(dir);
  });

  /** Starts a worker, returns its command line and initial environment, stops it. */
  const started = async (name: string, env: Record<string, string>): Promise<{ argv: string[]; environ: string[] }> => {
    const base = { ...process.env };
    delete base.MALLOC_ARENA_MAX;
    delete base.NODE_OPTIONS;
    const child = spawn(bin, ['worker', '--redis', redis.url, '--queue', `launcher-${name}`], {
      env: { ...base, BUILDER_ROOT: path.join(dir, name), ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    try {
      const deadline = Date.now() + 30_000;
      while (!log.includes('builder worker ready')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker did not start: ${log}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const read = async (file: string): Promise<string[]> => (await readFile(`/proc/${child.pid}/${file}`, 'utf8')).split('\0');
      return { argv: await read('cmdline'), environ: await read('environ') };
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  };

  it('gives the worker a 2 MiB semi-space and two malloc arenas', async () => {
    const { argv, environ } = await started('default', {});
    assert.ok(argv.includes('--max-semi-space-size=2'), argv.join(' '));
    assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), 'MALLOC_ARENA_MAX=2 in the environment node started with');
    assert.ok(environ.includes('BUILDER_ARENA_DEFAULTED=1'), 'the marker the worker uses to take it back out');
  });

  it("leaves the user's semi-space size and arena count alone", async () => {
    const { argv, environ } = await started('user', { NODE_OPTIONS: '--max-semi-space-size=4', MALLOC_ARENA_MAX: '3' });
    assert.ok(!argv.some((arg) => arg.startsWith('--max-semi-space-size')), argv.join(' '));
    assert.ok(environ.includes('MALLOC_ARENA_MAX=3'));
    assert.ok(!environ.some((entry) => entry.startsWith('BUILDER_ARENA_DEFAULTED=')));
  });
});
