/**
 * Hostile build contexts through the real CLI: control files that are links out of the context, FIFOs, binary and
 * oversized Dockerfiles, and `--output type=local` into a directory holding links. Each must be refused (or
 * written safely) with nothing read from or written to outside the context, and nothing left mounted.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from '../helpers/busybox-fixture.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-root.js';
import { assertNoSecret, assertNothingMounted, secretMarker, treeFingerprint } from './escape-check.js';

describe('hostile contexts (CLI)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let outside = '';
  let secret = '';
  let counter = 0;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    skipped: building needs root (runc, overlayfs)');
      this.skip();
    }
    scratch = await makeTempDir('hostile-contexts');
    root = await makeFixtureRoot('hostile-contexts-root', scratch);
    secret = secretMarker();
    outside = path.join(scratch, 'outside');
    await mkdir(path.join(outside, 'dir'), { recursive: true });
    // Lines that would be echoed one by one as "unknown instruction" if the file were read as a Dockerfile.
    await writeFile(path.join(outside, 'shadow'), `root:${secret}:20228:0:99999:7:::\nFROM busybox\nRUN echo ${secret}\n`);
    await writeFile(path.join(outside, 'ignore'), `${secret}\n`);
  });

  after(async function () {
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  async function context(files: Record<string, string | { link: string }>): Promise<string> {
    const dir = path.join(scratch, `ctx-${++counter}`);
    await mkdir(dir, { recursive: true });
    for (const [name, value] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      if (typeof value === 'string') await writeFile(path.join(dir, name), value);
      else await symlink(value.link, path.join(dir, name));
    }
    return dir;
  }

  async function build(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    const before = treeFingerprint(outside);
    const result = await runCli(['build', '--progress=plain', ...args], { root, env });
    assertNoSecret([result.stdout, result.stderr], [secret]);
    assert.equal(treeFingerprint(outside), before, 'the build changed files outside its context');
    assertNothingMounted(root);
    return result;
  }

  it('a Dockerfile linking out of the context (absolute, relative, via a linked dir) is not read', async function () {
    for (const link of [path.join(outside, 'shadow'), '../outside/shadow', '/etc/shadow']) {
      const result = await build([await context({ Dockerfile: { link } })]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /failed to read Dockerfile: open \S*Dockerfile: no such file or directory/);
    }
    const viaDir = await build(['-f', 'sub/Dockerfile', await context({ sub: { link: outside }, 'shadow': 'x' })]);
    assert.notEqual(viaDir.code, 0);
  });

  it('a Dockerfile linking to /proc/self/environ does not print the environment', async function () {
    const result = await build([await context({ Dockerfile: { link: '/proc/self/environ' } })], { HOSTILE_WEBHOOK_SECRET: secret });
    assert.equal(result.code, 2, result.stderr);
  });

  it('a link inside the context is followed inside it, like a COPY source', async function () {
    const dir = await context({ 'real/Dockerfile': 'FROM busybox\nLABEL ok=1\n', Dockerfile: { link: '/real/Dockerfile' } });
    const result = await build([dir]);
    assert.equal(result.code, 0, result.stderr);
  });

  it('.dockerignore and Dockerfile.dockerignore linking out of the context are not read', async function () {
    for (const name of ['.dockerignore', 'Dockerfile.dockerignore']) {
      const dir = await context({ Dockerfile: 'FROM busybox\nCOPY . /ctx/\n', [name]: { link: path.join(outside, 'ignore') }, [secret]: 'kept\n' });
      const result = await build(['--output', `type=local,dest=${path.join(scratch, `ignored-${counter}`)}`, dir]);
      assert.equal(result.code, 0, result.stderr);
      // Had the outside file been read, it would have excluded the file named after the secret.
      assert.equal(await readFile(path.join(scratch, `ignored-${counter}`, 'ctx', secret), 'utf8'), 'kept\n');
    }
  });

  it('a FIFO, a binary file and an oversized Dockerfile are refused with a clear error, without hanging', async function () {
    const fifoDir = await context({});
    execFileSync('mkfifo', [path.join(fifoDir, 'Dockerfile')]);
    const fifo = await build([fifoDir]);
    assert.equal(fifo.code, 2);
    assert.match(fifo.stderr, /not a regular file/);
    const binary = await build([await context({ Dockerfile: `FROM busybox\0${secret}\n` })]);
    assert.match(binary.stderr, /not a text file/);
    const big = await build([await context({ Dockerfile: `FROM busybox\n${`LABEL a=${secret}\n`.repeat(2000)}` })], { BUILDER_MAX_DOCKERFILE_BYTES: '4096' });
    assert.match(big.stderr, /Dockerfile Dockerfile is larger than the limit of 4096 bytes/);
    const line = await build([await context({ Dockerfile: `FROM busybox\nRUN echo ${'a'.repeat(70_000)}${secret}\n` })]);
    assert.match(line.stderr, /Dockerfile:2: dockerfile line greater than max allowed size of 65535/);
  });

  it('a file that is not a Dockerfile gets one error for its first line, clipped', async function () {
    const result = await build(['-f', 'notes.txt', await context({ 'notes.txt': `${'x'.repeat(300)}\nFROM busybox\nmore: ${secret}\nRUN ${secret}\n` })]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.match(/unknown instruction/g)?.length, 1, result.stderr);
  });

  it('--output type=local does not write through links already in the destination', async function () {
    const dest = path.join(scratch, 'out-links');
    await mkdir(dest, { recursive: true });
    await symlink(path.join(outside, 'shadow'), path.join(dest, 'f'));
    await symlink(path.join(outside, 'dir'), path.join(dest, 'd'));
    const dir = await context({ Dockerfile: 'FROM busybox\nRUN echo overwritten > /f && mkdir /d && echo planted > /d/g\n' });
    const result = await build(['--output', `type=local,dest=${dest}`, dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(path.join(dest, 'f'), 'utf8'), 'overwritten\n');
    assert.equal(await readFile(path.join(dest, 'd', 'g'), 'utf8'), 'planted\n');
  });

  it('a local ADD gzip bomb stops at BUILDER_ADD_MAX_UNPACKED_BYTES (off by default, as docker)', async function () {
    const dir = await context({ Dockerfile: 'FROM busybox\nADD bomb.tgz /x/\n' });
    execFileSync('sh', ['-c', 'dd if=/dev/zero of=zeros bs=1M count=64 2>/dev/null && tar czf bomb.tgz zeros && rm zeros'], { cwd: dir });
    const result = await build(['--no-cache', dir], { BUILDER_ADD_MAX_UNPACKED_BYTES: String(8 * 1024 * 1024) });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /Dockerfile:2: ADD failed: archive bomb\.tgz unpacks to more than 8388608 bytes/);
  });

  it('COPY --from in a cycle of stages is an error, not a registry pull', async function () {
    const self = await build([await context({ Dockerfile: 'FROM busybox AS a\nCOPY --from=a /x /x\n' })]);
    assert.match(self.stderr, /Dockerfile:1: circular dependency detected on stage: a/);
    // A later stage is a stage, as in BuildKit (not an image named b); a cycle through it is refused.
    const later = await build([await context({ Dockerfile: 'FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n' })]);
    assert.match(later.stderr, /circular dependency detected on stage/);
    assert.doesNotMatch(self.stderr + later.stderr, /pull|registry/i);
  });
});
