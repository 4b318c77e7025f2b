/**
 * Scenarios of buildah's tests/bud.bats that are about the CLI's files rather than Dockerfile semantics (so they are
 * no test-dockerfiles case): Containerfile as the default name, .containerignore, Dockerfile/context errors.
 * Docker and BuildKit only know `Dockerfile` and `.dockerignore`; the buildah names are a fallback that changes
 * nothing for a context that has the docker ones. Also buildah's CVE scenarios (CVE-2024-1753, CVE-2024-9675), which
 * need a look at the host after the build.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('buildah bud.bats scenarios (CLI files)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let counter = 0;

  before(async function () {
    scratch = await makeTempDir('bud-cli-scratch');
    root = await makeFixtureRoot('bud-cli-root', scratch);
  });

  after(async function () {
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  /** A fresh context dir holding `files` (relative names; parents are made). */
  async function context(files: Record<string, string>): Promise<string> {
    const dir = path.join(scratch, `ctx-${++counter}`);
    for (const [name, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), content);
    }
    await mkdir(dir, { recursive: true });
    return dir;
  }

  const build = (args: string[]): Promise<CliResult> => runCli(['build', '--progress=plain', ...args], { root });
  const run = async (tag: string, cmd: string[]): Promise<string> =>
    expectSuccess(await runCli(['run', '--rm', tag, ...cmd], { root }), `run ${tag}`).stdout;
  const tag = (name: string): string => `bud-cli-${process.pid}-${name}:latest`;
  const LIST = 'RUN cd /ctx && find . -type f | sort > /list.txt\n';

  it('a context with only a Containerfile builds it; with both, the Dockerfile is read', async function () {
    const only = await context({ Containerfile: 'FROM busybox\nRUN echo containerfile > /which\n' });
    expectSuccess(await build(['-t', tag('only'), only]), 'build with a Containerfile');
    assert.equal(await run(tag('only'), ['cat', '/which']), 'containerfile\n');

    const both = await context({
      Containerfile: 'FROM busybox\nRUN echo containerfile > /which\n',
      Dockerfile: 'FROM busybox\nRUN echo dockerfile > /which\n',
    });
    expectSuccess(await build(['-t', tag('both'), both]), 'build with both files');
    assert.equal(await run(tag('both'), ['cat', '/which']), 'dockerfile\n');
  });

  it('neither file: the error names the Dockerfile; a path through a file is not a directory; an empty one has no instructions; a directory is refused', async function () {
    const empty = await context({ 'other.txt': 'x' });
    const missing = await build(['-t', tag('missing'), empty]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /failed to read Dockerfile: open .*\/Dockerfile: no such file or directory/);

    const blank = await context({ Containerfile: '' });
    const noInstructions = await build(['-t', tag('blank'), blank]);
    assert.notEqual(noInstructions.code, 0);
    assert.match(noInstructions.stderr, /Containerfile:1: .*file with no instructions/);

    const throughFile = await build(['-t', tag('enotdir'), '-f', path.join(empty, 'other.txt', 'Dockerfile'), empty]);
    assert.notEqual(throughFile.code, 0);
    assert.match(throughFile.stderr, /failed to read Dockerfile: open .*other\.txt\/Dockerfile: not a directory/);

    const dirAsFile = await context({ 'Dockerfile/inner': 'x' });
    const isDir = await build(['-t', tag('dir'), dirAsFile]);
    assert.notEqual(isDir.code, 0);
    assert.match(isDir.stderr, /failed to read Dockerfile: read .*\/Dockerfile: is a directory/);
  });

  it('.containerignore applies when there is no .dockerignore; .dockerignore wins when both exist', async function () {
    const files = { 'keep.txt': 'k', 'secret.txt': 's', 'notes.md': 'n' };
    const podman = await context({ ...files, Containerfile: `FROM busybox\nCOPY . /ctx/\n${LIST}`, '.containerignore': 'secret.txt\n*.md\n' });
    expectSuccess(await build(['-t', tag('ci'), podman]), 'build with .containerignore');
    assert.equal(await run(tag('ci'), ['cat', '/list.txt']), './.containerignore\n./Containerfile\n./keep.txt\n');

    const mixed = await context({
      ...files,
      Dockerfile: `FROM busybox\nCOPY . /ctx/\n${LIST}`,
      '.containerignore': 'keep.txt\n',
      '.dockerignore': 'secret.txt\n.containerignore\n',
    });
    expectSuccess(await build(['-t', tag('di'), mixed]), 'build with both ignore files');
    assert.equal(await run(tag('di'), ['cat', '/list.txt']), './.dockerignore\n./Dockerfile\n./keep.txt\n./notes.md\n');
  });

  it('Containerfile.dockerignore beside a default Containerfile replaces the context .dockerignore', async function () {
    const dir = await context({
      'a.txt': 'a',
      'b.txt': 'b',
      Containerfile: `FROM busybox\nCOPY . /ctx/\n${LIST}`,
      'Containerfile.dockerignore': 'a.txt\nContainerfile*\n',
      '.dockerignore': 'b.txt\n',
    });
    expectSuccess(await build(['-t', tag('per-file'), dir]), 'build with Containerfile.dockerignore');
    assert.equal(await run(tag('per-file'), ['cat', '/list.txt']), './.dockerignore\n./b.txt\n');
  });

  it('CVE-2024-1753: a rw bind mount of a stage link to / is that stage\'s root, and writing through it reaches neither the host nor the image', async function () {
    const marker = `BIND_BREAKOUT_${process.pid}_${Date.now()}`;
    const dir = await context({
      Dockerfile: [
        'FROM busybox AS base',
        'RUN ln -s / /rootdir && echo base > /base-marker',
        'FROM busybox',
        `RUN --mount=type=bind,from=base,source=/rootdir,destination=/exploit,rw cat /exploit/base-marker > /seen.txt && touch /exploit/${marker}`,
        `RUN test ! -e /${marker} && test ! -e /exploit && echo clean >> /seen.txt`,
        '',
      ].join('\n'),
    });
    try {
      expectSuccess(await build(['-t', tag('cve-1753'), dir]), 'build with a rw bind of a link to /');
      assert.equal(existsSync(`/${marker}`), false, `the build wrote /${marker} on the host`);
      assert.equal(await run(tag('cve-1753'), ['cat', '/seen.txt']), 'base\nclean\n');
    } finally {
      await rm(`/${marker}`, { force: true });
    }
  });

  it('CVE-2024-9675: a cache mount id with ../ names a cache, never a host directory', async function () {
    const hostDir = path.join(scratch, `host-dir-${process.pid}`);
    await mkdir(hostDir, { recursive: true });
    await writeFile(path.join(hostDir, 'file.txt'), 'host secret\n');
    const escape = `${'../'.repeat(12)}${hostDir.replace(/^\//, '')}`;
    const dir = await context({
      Dockerfile: `FROM busybox\nRUN --mount=type=cache,id=${escape},target=/var/tmp ls -A /var/tmp > /listed.txt && touch /var/tmp/written\n`,
    });
    expectSuccess(await build(['-t', tag('cve-9675'), dir]), 'build with a ../ cache id');
    assert.equal(await run(tag('cve-9675'), ['cat', '/listed.txt']), '', 'the cache mount showed the host directory');
    assert.equal(existsSync(path.join(hostDir, 'written')), false, 'the RUN wrote into the host directory');
  });
});
