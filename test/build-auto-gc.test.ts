/**
 * The automatic GC after `builder build` (BUILDER_GC_KEEP_STORAGE), through the real CLI. The CLI looks its limit up
 * while the build waits on a RUN's runtime, or at the end when no RUN ever launches (cli/build.ts, store/idle-work.ts):
 * either way a limit runs the GC after the result, and a bad setting is a warning that never fails the build.
 */
import { strict as assert } from 'node:assert';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('automatic GC after a CLI build', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let counter = 0;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    (skipped: RUN steps need root for runc and overlay mounts)');
      this.skip();
    }
    scratch = await makeTempDir('build-auto-gc-scratch');
    root = await makeFixtureRoot('build-auto-gc-root', scratch);
  });

  after(async function () {
    if (root) await removeTempDir(root);
    if (scratch) await removeTempDir(scratch);
  });

  async function build(dockerfile: string, env: Record<string, string>) {
    const dir = path.join(scratch, `ctx-${++counter}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    return runCli(['build', '--progress=plain', '-t', `gc:${counter}`, dir], { root, env });
  }

  const withRun = (n: number): string => `FROM busybox\nRUN echo ${n} > /n\n`;
  const metadataOnly = (n: number): string => `FROM busybox\nLABEL n=${n}\n`;

  for (const [what, dockerfile] of [['with a RUN', withRun], ['without a RUN', metadataOnly]] as const) {
    it(`runs after the result when a limit is set (${what})`, async function () {
      const result = expectSuccess(await build(dockerfile(counter + 100), { BUILDER_GC_KEEP_STORAGE: '1' }), 'build');
      assert.match(result.stdout, /^sha256:[0-9a-f]{64}\n$/);
      assert.match(result.stderr, /automatic GC: reclaimed .*; store now /);
    });

    it(`warns about a bad limit and still succeeds (${what})`, async function () {
      const result = expectSuccess(await build(dockerfile(counter + 200), { BUILDER_GC_KEEP_STORAGE: 'lots' }), 'build');
      assert.match(result.stdout, /^sha256:[0-9a-f]{64}\n$/);
      assert.match(result.stderr, /WARNING: automatic garbage collection failed: .*BUILDER_GC_KEEP_STORAGE/);
    });

    it(`stays silent without a limit (${what})`, async function () {
      const result = expectSuccess(await build(dockerfile(counter + 300), {}), 'build');
      assert.doesNotMatch(result.stderr, /automatic GC|garbage collection/);
    });
  }
});
