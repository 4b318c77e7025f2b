/**
 * Issue 14 item 4: a Dockerfile of 10,000 metadata steps builds (and rebuilds from the cache) with records of
 * bounded size, and the size/step caps refuse larger ones with a clear error. Speed is in BENCHMARKS.md, not here.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cliMain, runCli, expectSuccess } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('long Dockerfiles', function () {
  this.timeout(120_000);
  let dir = '';
  before(async () => { dir = await makeTempDir('long-dockerfile'); });
  after(async () => removeTempDir(dir));

  it('10,000 ENV steps build and rebuild to the same digest with every cache record under 1 KiB', async () => {
    const lines = ['FROM scratch', ...Array.from({ length: 10_000 }, (_, i) => `ENV VAR_${i}=value-${i}`)];
    await writeFile(path.join(dir, 'Dockerfile'), `${lines.join('\n')}\n`);
    const root = path.join(dir, 'root');
    const first = expectSuccess(await runCli(['build', '-q', dir], { root }), 'first build');
    const again = expectSuccess(await runCli(['build', '-q', dir], { root }), 'cached rebuild');
    assert.equal(again.stdout.trim(), first.stdout.trim());
    const cacheDir = path.join(root, 'cache');
    const records = (await readdir(cacheDir)).filter((name) => name.endsWith('.json'));
    assert.equal(records.length, 10_000);
    let largest = 0;
    for (const name of records) largest = Math.max(largest, (await stat(path.join(cacheDir, name))).size);
    assert.ok(largest < 1024, `largest record is ${largest} bytes`);
  });

  it('a build of many steps stops at SIGTERM: cancelled, nothing tagged', async () => {
    const lines = ['FROM scratch', ...Array.from({ length: 20_000 }, (_, i) => `ENV CANCEL_${i}=value-${i}`)];
    const cancelDir = path.join(dir, 'cancel');
    await mkdir(cancelDir, { recursive: true });
    await writeFile(path.join(cancelDir, 'Dockerfile'), `${lines.join('\n')}\n`);
    const root = path.join(dir, 'root-cancel');
    const child = spawn(process.execPath, [cliMain, 'build', '-q', '-t', 'cancelled:1', cancelDir], { env: { ...process.env, BUILDER_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Wait until the steps are running (records appear), then ask it to stop.
    for (let i = 0; i < 400 && (await readdir(path.join(root, 'cache')).catch(() => [])).length < 100; i++) await new Promise((r) => setTimeout(r, 25));
    child.kill('SIGTERM');
    const code = await exited;
    assert.notEqual(code, 0);
    assert.match(stderr, /cancelled/i);
    const records = (await readdir(path.join(root, 'cache'))).filter((name) => name.endsWith('.json')).length;
    assert.ok(records < 20_000, `stopped part-way (${records} records)`);
    const images = expectSuccess(await runCli(['images'], { root }), 'images');
    assert.doesNotMatch(images.stdout, /cancelled/);
  });

  it('refuses a Dockerfile over the step or size limit, naming the limit', async () => {
    await writeFile(path.join(dir, 'Dockerfile'), `FROM scratch\n${'ENV A=1\n'.repeat(50)}`);
    const steps = await runCli(['build', '-q', dir], { root: path.join(dir, 'root2'), env: { BUILDER_MAX_STEPS: '20' } });
    assert.notEqual(steps.code, 0);
    assert.match(steps.stderr, /51 instructions, more than the 20 a build accepts \(BUILDER_MAX_STEPS\)/);
    const size = await runCli(['build', '-q', dir], { root: path.join(dir, 'root2'), env: { BUILDER_MAX_DOCKERFILE_BYTES: '100' } });
    assert.notEqual(size.code, 0);
    assert.match(size.stderr, /Dockerfile .*is larger than the limit of 100 bytes/);
  });
});
