/**
 * `builder build` options from the BuildKit parity issue, through the real CLI: --label, --iidfile,
 * --output (oci, docker, tar, local), -f - and `-` contexts, --build-arg from the environment,
 * --build-context, COPY --from=<image>, # syntax/# check directives, platform args, parallel stages.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand, type CliResult } from './helpers/cli.js';
import { validateArchive } from './helpers/oci-validate.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('build options (CLI)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let counter = 0;

  before(async function () {
    scratch = await makeTempDir('build-options-scratch');
    root = await makeFixtureRoot('build-options-root', scratch);
  });

  after(async function () {
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  /** A fresh context dir with a Dockerfile and extra files. */
  async function context(dockerfile: string, files: Record<string, string> = {}): Promise<string> {
    const dir = path.join(scratch, `ctx-${++counter}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
    return dir;
  }

  const build = (args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> =>
    runCli(['build', '--progress=plain', ...args], { root, ...options });

  async function labelsOf(tag: string): Promise<Record<string, string>> {
    const inspect = expectSuccess(await runCli(['inspect', tag], { root }), 'inspect');
    const [image] = JSON.parse(inspect.stdout) as { Config?: { Labels?: Record<string, string> } }[];
    return image?.Config?.Labels ?? {};
  }

  it('--label adds to the final labels (overriding LABEL); --iidfile holds the printed digest', async function () {
    const dir = await context('FROM busybox\nLABEL a=from-dockerfile keep=yes\n');
    const iidfile = path.join(scratch, 'iid');
    const result = expectSuccess(await build(['-t', 'opts:label', '--label', 'a=from-flag', '--label', 'b=2', '--iidfile', iidfile, dir]), 'build');
    assert.deepEqual(await labelsOf('opts:label'), { a: 'from-flag', keep: 'yes', b: '2' });
    const digest = result.stdout.trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await readFile(iidfile, 'utf8'), digest);
  });

  it('--build-arg NAME takes the environment; ARG TARGETARCH works in RUN; # syntax and # check are accepted', async function () {
    const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    const dir = await context('# syntax=docker/dockerfile:1\n# check=skip=all\nFROM busybox\nARG FROM_ENV\nARG TARGETARCH\nRUN echo "env=$FROM_ENV arch=$TARGETARCH"\n');
    const result = expectSuccess(await build(['--build-arg', 'FROM_ENV', dir], { env: { FROM_ENV: 'from-the-env' } }), 'build');
    assert.match(result.stderr, new RegExp(`env=from-the-env arch=${arch}\\n`));
  });

  it('-f - reads the Dockerfile from stdin; a `-` context is a Dockerfile or a context tar on stdin', async function () {
    const dir = await context('FROM busybox\nRUN false\n', { 'data.txt': 'from the context\n' });
    const fromStdin = expectSuccess(await build(['-f', '-', dir], { input: 'FROM busybox\nCOPY data.txt /\nRUN cat /data.txt\n' }), '-f -');
    assert.match(fromStdin.stderr, /from the context/);
    const noContext = expectSuccess(await build(['-'], { input: 'FROM busybox\nRUN echo no-context\n' }), 'build -');
    assert.match(noContext.stderr, /no-context/);
    const tarDir = await context('FROM busybox\nCOPY data.txt /\nRUN cat /data.txt\n', { 'data.txt': 'from a tar context\n' });
    // An uncompressed tar of ASCII files is valid UTF-8, so it can travel as the string input.
    const tarball = execFileSync('tar', ['-C', tarDir, '-cf', '-', 'Dockerfile', 'data.txt']).toString('latin1');
    const fromTar = expectSuccess(await build(['-'], { input: tarball }), 'build - < tar');
    assert.match(fromTar.stderr, /from a tar context/);
    const both = await build(['-f', '-', '-'], { input: 'FROM busybox\n' });
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /stdin for both/);
  });

  it('--output writes oci and docker archives, a rootfs tar and a local directory', async function () {
    const dir = await context('FROM busybox AS base\nRUN echo built > /x && rm /bin/vi\nFROM base\nRUN echo final > /y\n');
    const out = path.join(scratch, 'out');
    expectSuccess(await build([
      '--output', `type=oci,dest=${out}/image-oci.tar`,
      '--output', `type=docker,dest=${out}/image-docker.tar`,
      '--output', `type=tar,dest=${out}/rootfs.tar`,
      '--output', `type=local,dest=${out}/rootfs`,
      dir,
    ]), 'build with outputs');
    for (const transport of ['oci-archive', 'docker-archive']) {
      const file = `${out}/image-${transport.split('-')[0]}.tar`;
      const inspect = expectSuccess(await runCommand('skopeo', ['inspect', '--config', `${transport}:${file}`]), `skopeo inspect ${transport}`);
      assert.equal((JSON.parse(inspect.stdout) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.length, 3);
      assert.deepEqual(await validateArchive(file, scratch), []);
    }
    const listing = execFileSync('tar', ['-tf', `${out}/rootfs.tar`], { encoding: 'utf8' }).split('\n');
    assert.ok(listing.includes('x') && listing.includes('y') && listing.includes('bin/busybox'), listing.slice(0, 20).join(' '));
    assert.ok(!listing.includes('bin/vi'), 'a deleted file must not be in the flattened rootfs');
    assert.equal(await readFile(`${out}/rootfs/x`, 'utf8'), 'built\n');
    assert.equal(await readFile(`${out}/rootfs/y`, 'utf8'), 'final\n');
    assert.equal(await stat(`${out}/rootfs/bin/vi`).catch(() => undefined), undefined);
    assert.ok((await stat(`${out}/rootfs/bin/busybox`)).mode & 0o111);
  });

  it('--build-context: a directory for COPY --from and FROM, an image alias; COPY --from=<image ref>', async function () {
    const extra = path.join(scratch, 'extra-context');
    await mkdir(extra, { recursive: true });
    await writeFile(path.join(extra, 'extra.txt'), 'named context\n');
    const dir = await context([
      'FROM files AS fromdir',
      'FROM base',
      'COPY --from=files extra.txt /copied.txt',
      'COPY --from=fromdir /extra.txt /via-stage.txt',
      'COPY --from=busybox:latest /bin/busybox /opt/busybox',
      'RUN cat /copied.txt /via-stage.txt && /opt/busybox true && echo image-ok',
      '',
    ].join('\n'));
    const result = expectSuccess(await build(['--build-context', `files=${extra}`, '--build-context', 'base=docker-image://busybox:latest', dir]), 'build');
    assert.equal(result.stderr.match(/ named context\n/g)?.length, 2, result.stderr);
    assert.match(result.stderr, / image-ok\n/);
    const missing = await build(['--build-context', `files=${path.join(scratch, 'nope')}`, dir]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /is not a directory/);
  });

  it('runs independent stages at once: three stages\' RUNs meet at a rendezvous none could reach alone', async function () {
    // Behaviour, not a clock: each RUN leaves a marker in one shared cache mount and waits for all three.
    // Run one after another, the first RUN never sees the others and gives up; run at once, they meet in
    // milliseconds however loaded the machine is. The 40 s give-up only bounds the wait (serial, a fails after 40 s
    // and cancels its siblings).
    const rendezvous = (name: string): string => [
      `RUN --mount=type=cache,id=rendezvous,target=/sync,sharing=shared touch /sync/${name} && i=0 &&`,
      'until [ -e /sync/a ] && [ -e /sync/b ] && [ -e /sync/c ]; do',
      `i=$((i+1)); if [ $i -gt 400 ]; then echo "stage ${name} waited alone: stages ran one after another"; exit 1; fi; sleep 0.1;`,
      `done && echo ${name} > /${name}`,
    ].join(' ');
    const dir = await context([
      'FROM busybox AS a', rendezvous('a'),
      'FROM busybox AS b', rendezvous('b'),
      'FROM busybox AS c', rendezvous('c'),
      'FROM busybox', 'COPY --from=a /a /a', 'COPY --from=b /b /b', 'COPY --from=c /c /c', 'RUN cat /a /b /c | tr -d "\\n"; echo',
      '',
    ].join('\n'));
    const result = expectSuccess(await build([dir]), 'parallel build');
    assert.match(result.stderr, / abc\n/);
  });

  it('a failing stage cancels its sibling stages (as BuildKit does) and the build reports the failure\'s line', async function () {
    // The sibling would sleep 100 s, past this test's timeout: the build ends only if the failure cancels it.
    this.timeout(60_000);
    const dir = await context([
      'FROM busybox AS slow', 'RUN sleep 100 && echo done > /slow',
      'FROM busybox AS broken', 'RUN echo about to fail && exit 3',
      'FROM busybox', 'COPY --from=slow /slow /slow', 'COPY --from=broken /etc/passwd /b',
      '',
    ].join('\n'));
    const result = await build([dir]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /ERROR: Dockerfile:4: .*exit code: 3/);
    assert.match(result.stderr, /#\d+ ERROR: run cancelled/);
  });
});
