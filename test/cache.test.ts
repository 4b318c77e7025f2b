/**
 * The layer cache through the real CLI: which steps hit and which miss after each kind of change,
 * mtime-only changes, reproducible digests across directories and stores, concurrent builds, a
 * build killed with SIGKILL, and damaged cache records.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, readdir, readFile, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { cliMain, expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const DOCKERFILE = `FROM busybox
ARG VERSION=1
ENV APP=/app
WORKDIR /app
COPY early.txt ./
RUN echo "v$VERSION" > version && cat early.txt > early-copy
LABEL purpose=cache-test
ADD mode.sh ./
COPY late/ ./late/
RUN cat late/* > late-out
CMD ["sh"]
`;
/** Progress names of the filesystem steps, in order. */
const STEPS = ['WORKDIR /app', 'COPY early.txt ./', 'RUN echo', 'ADD mode.sh ./', 'COPY late/ ./late/', 'RUN cat late/*'];

/** For each filesystem step: true when it was CACHED. */
function cachedSteps(result: CliResult): boolean[] {
  const lines = result.stderr.split('\n');
  return STEPS.map((name) => {
    const start = lines.find((l) => l.includes(`] ${name}`));
    assert.ok(start, `no progress line for ${name}:\n${result.stderr}`);
    const id = start.split(' ')[0]!;
    return lines.includes(`${id} CACHED`);
  });
}

/** The `cache miss:` line printed for a step, if any. */
function missReason(result: CliResult, name: string): string | undefined {
  const lines = result.stderr.split('\n');
  const start = lines.find((l) => l.includes(`] ${name}`));
  const id = start?.split(' ')[0];
  return lines.find((l) => l.startsWith(`${id} cache miss: `))?.slice(`${id} cache miss: `.length);
}

function imageId(result: CliResult): string {
  return result.stdout.trim().split('\n').pop()!;
}

describe('layer cache', function () {
  this.timeout(180_000);
  let root = '';
  let scratch = '';
  let context = '';

  const build = async (extra: string[] = [], dir = context, buildRoot = root, env: Record<string, string> = {}): Promise<CliResult> =>
    expectSuccess(await runCli(['build', '--progress=plain', '-t', 'cache-app', ...extra, dir], { root: buildRoot, env }), 'builder build');

  before(async function () {
    scratch = await makeTempDir('cache-scratch');
    root = await makeFixtureRoot('cache-root', scratch);
    context = path.join(scratch, 'context');
    await mkdir(path.join(context, 'late'), { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), DOCKERFILE);
    await writeFile(path.join(context, 'early.txt'), 'early\n');
    await writeFile(path.join(context, 'mode.sh'), 'echo mode\n');
    await writeFile(path.join(context, 'late', 'a.txt'), 'late a\n');
    await writeFile(path.join(context, 'late', 'b.txt'), 'late b\n');
  });

  after(async function () {
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  it('runs every step the first time, and none on a rebuild with the same image id', async function () {
    const first = await build();
    assert.deepEqual(cachedSteps(first), [false, false, false, false, false, false]);
    assert.equal(missReason(first, 'COPY early.txt ./'), 'no earlier build of this step');
    const second = await build();
    assert.deepEqual(cachedSteps(second), [true, true, true, true, true, true]);
    assert.equal(imageId(second), imageId(first), 'a fully cached rebuild gives the same image');
  });

  it('stays cached when only mtimes change (touch, fresh clone)', async function () {
    const past = new Date('2001-02-03T04:05:06Z');
    for (const file of ['early.txt', 'mode.sh', 'late/a.txt', 'late/b.txt', 'late']) await utimes(path.join(context, file), past, past);
    assert.deepEqual(cachedSteps(await build()), [true, true, true, true, true, true]);
  });

  it('re-runs only the steps after an edited late source', async function () {
    await writeFile(path.join(context, 'late', 'b.txt'), 'late b, edited\n');
    const result = await build();
    assert.deepEqual(cachedSteps(result), [true, true, true, true, false, false]);
    assert.equal(missReason(result, 'COPY late/ ./late/'), 'late/b.txt content changed');
    assert.match(missReason(result, 'RUN cat late/*') ?? '', /^an earlier step changed: \[\d+\/\d+\] COPY late\/ \.\/late\/$/);
    const run = expectSuccess(await runCli(['run', '--rm', 'cache-app', 'cat', '/app/late-out'], { root }), 'builder run');
    assert.equal(run.stdout, 'late a\nlate b, edited\n');
  });

  it('invalidates from a COPY whose source mode changed', async function () {
    await chmod(path.join(context, 'mode.sh'), 0o755);
    const result = await build();
    assert.deepEqual(cachedSteps(result), [true, true, true, false, false, false]);
    assert.equal(missReason(result, 'ADD mode.sh ./'), 'mode.sh mode changed');
  });

  it('invalidates only the steps that can see a changed build arg', async function () {
    // The COPY before the RUN cannot see VERSION, so it stays cached; the RUN and everything after it re-run.
    const result = await build(['--build-arg', 'VERSION=2']);
    assert.deepEqual(cachedSteps(result), [true, true, false, false, false, false]);
    assert.equal(missReason(result, 'RUN echo'), 'build arg VERSION changed');
    assert.deepEqual(cachedSteps(await build(['--build-arg', 'VERSION=2'])), [true, true, true, true, true, true]);
  });

  it('re-runs everything with --no-cache, and the named stage with --no-cache-filter', async function () {
    assert.deepEqual(cachedSteps(await build(['--no-cache'])), [false, false, false, false, false, false]);
    const multi = path.join(scratch, 'multi');
    await mkdir(multi, { recursive: true });
    await writeFile(path.join(multi, 'Dockerfile'), 'FROM busybox AS one\nRUN echo one > /one\nFROM busybox AS two\nRUN echo two > /two\nCOPY --from=one /one /one\n');
    await build([], multi);
    const filtered = await build(['--no-cache-filter', 'two'], multi);
    assert.match(filtered.stderr, /\[one 2\/2\] RUN echo one > \/one\n#\d+ CACHED/);
    assert.doesNotMatch(filtered.stderr, /\[two 2\/3\] RUN echo two > \/two\n#\d+ CACHED/);
  });

  it('invalidates everything after FROM when the base image changes behind the same tag', async function () {
    const baseDir = path.join(scratch, 'base');
    const appDir = path.join(scratch, 'app');
    await mkdir(baseDir, { recursive: true });
    await mkdir(appDir, { recursive: true });
    await writeFile(path.join(appDir, 'Dockerfile'), 'FROM cache-base\nRUN cat /base-version > /seen\n');
    await writeFile(path.join(baseDir, 'Dockerfile'), 'FROM busybox\nRUN echo 1 > /base-version\n');
    expectSuccess(await runCli(['build', '-t', 'cache-base', baseDir], { root }), 'base build');
    expectSuccess(await runCli(['build', '-t', 'cache-app2', appDir], { root }), 'app build');
    const cached = expectSuccess(await runCli(['build', '--progress=plain', '-t', 'cache-app2', appDir], { root }), 'app rebuild');
    assert.match(cached.stderr, /CACHED/);
    await writeFile(path.join(baseDir, 'Dockerfile'), 'FROM busybox\nRUN echo 2 > /base-version\n');
    expectSuccess(await runCli(['build', '-t', 'cache-base', baseDir], { root }), 'new base');
    const rebuilt = expectSuccess(await runCli(['build', '--progress=plain', '-t', 'cache-app2', appDir], { root }), 'app after new base');
    assert.doesNotMatch(rebuilt.stderr, /CACHED/);
    assert.match(rebuilt.stderr, /cache miss: base image cache-base changed \([0-9a-f]{12} → [0-9a-f]{12}\)/);
    const seen = expectSuccess(await runCli(['run', '--rm', 'cache-app2', 'cat', '/seen'], { root }), 'run');
    assert.equal(seen.stdout, '2\n');
  });

  it('gives the same image digest from empty stores in two directories with SOURCE_DATE_EPOCH', async function () {
    const cloneA = path.join(scratch, 'clone-a');
    const cloneB = path.join(scratch, 'elsewhere', 'clone-b');
    await cp(context, cloneA, { recursive: true });
    await cp(context, cloneB, { recursive: true, preserveTimestamps: false });
    const rootA = await makeFixtureRoot('cache-repro-a', scratch);
    const rootB = await makeFixtureRoot('cache-repro-b', scratch);
    try {
      const env = { SOURCE_DATE_EPOCH: '1700000000' };
      const a = await build([], cloneA, rootA, env);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // a different wall clock second
      const b = await build([], cloneB, rootB, env);
      assert.equal(imageId(a), imageId(b));
      const inspect = JSON.parse(expectSuccess(await runCli(['inspect', 'cache-app'], { root: rootA }), 'inspect').stdout) as { Created: string }[];
      assert.equal(inspect[0]!.Created, '2023-11-14T22:13:20Z');
    } finally {
      await removeTempDir(rootA);
      await removeTempDir(rootB);
    }
  });

  it('applies SOURCE_DATE_EPOCH to a rebuild whose steps all come from the cache (history and created)', async function () {
    await build();
    await build(['--build-arg', 'SOURCE_DATE_EPOCH=1600000000']);
    const [image] = JSON.parse(expectSuccess(await runCli(['inspect', 'cache-app'], { root }), 'inspect').stdout) as { Created: string; History: { created: string }[] }[];
    assert.equal(image!.Created, '2020-09-13T12:26:40Z');
    // The base image's entries (1970) are older than the epoch and keep their time, as BuildKit's exporter does.
    assert.deepEqual([...new Set(image!.History.map((entry) => entry.created))].sort(), ['1970-01-01T00:00:00Z', '2020-09-13T12:26:40Z']);
  });

  it('lets two builds run at once on one store, both succeeding and sharing the cache', async function () {
    const dirs = ['one', 'two'].map((name) => path.join(scratch, `concurrent-${name}`));
    for (const [index, dir] of dirs.entries()) {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'Dockerfile'), `FROM busybox\nRUN echo shared > /shared && sleep 0.3\nRUN echo ${index} > /own\n`);
    }
    const results = await Promise.all(dirs.map((dir, index) => runCli(['build', '-t', `concurrent-${index}`, dir], { root })));
    for (const result of results) expectSuccess(result, 'concurrent build');
    for (const [index] of dirs.entries()) {
      const out = expectSuccess(await runCli(['run', '--rm', `concurrent-${index}`, 'cat', '/shared', '/own'], { root }), 'run');
      assert.equal(out.stdout, `shared\n${index}\n`);
    }
    const again = expectSuccess(await runCli(['build', '--progress=plain', '-t', 'concurrent-0', dirs[0]!], { root }), 'rebuild');
    assert.equal(again.stderr.match(/CACHED/g)?.length, 2);
  });

  it('recovers from a build killed with SIGKILL at any moment: same digest as an undisturbed build', async function () {
    const dir = path.join(scratch, 'killed');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN seq 1 3000000 > /numbers && mkdir /many && for i in $(seq 1 300); do echo $i > /many/$i; done\nRUN wc -l /numbers > /count\n');
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const cleanRoot = await makeFixtureRoot('cache-kill-clean', scratch);
    try {
      const clean = imageId(await build([], dir, cleanRoot, env));
      for (const delayMs of [150, 400, 700, 1000, 1400]) {
        await killedBuild(root, dir, delayMs, env);
        const rebuilt = imageId(await build([], dir, root, env));
        assert.equal(rebuilt, clean, `after a kill at ${delayMs} ms`);
        expectSuccess(await runCli(['rmi', 'cache-app'], { root }), 'rmi');
        await rm(path.join(root, 'cache'), { recursive: true, force: true });
      }
    } finally {
      await removeTempDir(cleanRoot);
    }
  });

  it('treats a record whose layer blob is missing as a miss, says so once, and repairs it', async function () {
    const dir = path.join(scratch, 'damaged');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo damaged > /damaged\n');
    expectSuccess(await runCli(['build', '-t', 'damaged', dir], { root }), 'build');
    const inspect = JSON.parse(expectSuccess(await runCli(['inspect', 'damaged'], { root }), 'inspect').stdout) as { RootFS: { Layers: string[] } }[];
    assert.ok(inspect[0]!.RootFS.Layers.length >= 2);
    // Remove the RUN layer's blob, found through the cache record that names it.
    const blobs = await readdir(path.join(root, 'oci', 'blobs', 'sha256'));
    const records = (await readdir(path.join(root, 'cache'))).filter((name) => name.endsWith('.json'));
    let removed = 0;
    for (const record of records) {
      const entry = JSON.parse(await readFile(path.join(root, 'cache', record), 'utf8')) as { createdBy: string; layer?: { digest: string } };
      if (entry.createdBy.includes('echo damaged') && entry.layer) {
        const hex = entry.layer.digest.replace('sha256:', '');
        assert.ok(blobs.includes(hex));
        await unlink(path.join(root, 'oci', 'blobs', 'sha256', hex));
        removed++;
      }
    }
    assert.equal(removed, 1);
    const repaired = await runCli(['build', '--progress=plain', '-t', 'damaged', dir], { root });
    expectSuccess(repaired, 'rebuild');
    assert.equal(repaired.stderr.match(/WARNING: cache record .* is missing/g)?.length, 1, repaired.stderr);
    assert.doesNotMatch(repaired.stderr, /CACHED/);
    const again = expectSuccess(await runCli(['build', '--progress=plain', '-t', 'damaged', dir], { root }), 'third build');
    assert.match(again.stderr, /CACHED/);
    assert.doesNotMatch(again.stderr, /WARNING/);
  });
});

/** Starts a build and SIGKILLs it after `delayMs`. */
function killedBuild(root: string, dir: string, delayMs: number, env: Record<string, string>): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliMain, 'build', '-q', '-t', 'cache-app', dir], {
      env: { ...process.env, ...env, BUILDER_ROOT: root },
      stdio: 'ignore',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
