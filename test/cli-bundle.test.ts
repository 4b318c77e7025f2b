/**
 * The bundled CLI (scripts/build-cli.ts, loaded by builder/cli/bundle-loader.ts) must behave exactly like the plain
 * modules: same output, same errors, same exit codes; and its V8 code cache must be written and accepted.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { cliMain, expectSuccess, repoRoot, runCli, runCommand } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const CLI_DIR = path.dirname(cliMain);
const BUNDLE = path.join(CLI_DIR, 'cli-bundle.cjs');
const CACHE_DIR = path.join(CLI_DIR, '.code-cache');

describe('cli bundle', function () {
  this.timeout(60_000);
  let root: string;

  before(function () {
    if (!existsSync(BUNDLE)) {
      console.log(`    skipped: ${BUNDLE} is missing (npm run build writes it)`);
      this.skip();
    }
  });
  beforeEach(async () => { root = await makeTempDir('cli-bundle'); });
  afterEach(async () => { await removeTempDir(root); });

  const cases: Array<{ what: string; args: string[] }> = [
    { what: 'top-level help', args: ['--help'] },
    { what: 'a command\'s help', args: ['run', '--help'] },
    { what: 'an unknown command', args: ['nosuch'] },
    { what: 'a missing argument', args: ['build'] },
    { what: 'an invalid choice', args: ['build', '--progress', 'loud', '.'] },
    { what: 'a BuildError from a command', args: ['inspect', '--type', 'image', 'no-such-image:1'] },
    { what: 'an empty container list', args: ['ps', '-a'] },
  ];
  for (const { what, args } of cases) {
    it(`prints the same as the plain modules for ${what}`, async () => {
      const bundled = await runCli(args, { root });
      const plain = await runCli(args, { root, env: { BUILDER_NO_BUNDLE: '1' } });
      assert.deepEqual(bundled, plain);
    });
  }

  for (const { what, args } of cases) {
    it(`bin/builder (entry.cjs) prints the same as node main.js for ${what}`, async () => {
      const launched = await runCommand(path.join(repoRoot, 'bin', 'builder'), args, { env: { BUILDER_ROOT: root } });
      const plain = await runCli(args, { root, env: { BUILDER_NO_BUNDLE: '1' } });
      assert.deepEqual(launched, plain);
    });
  }

  it('bin/builder finds itself through a chain of relative symlinks (npm link, node_modules/.bin)', async () => {
    await mkdir(path.join(root, 'links', 'deep'), { recursive: true });
    await symlink(path.relative(path.join(root, 'links', 'deep'), path.join(repoRoot, 'bin', 'builder')), path.join(root, 'links', 'deep', 'builder'));
    await symlink(path.join('deep', 'builder'), path.join(root, 'links', 'builder'));
    const linked = await runCommand(path.join(root, 'links', 'builder'), ['ps', '-a'], { env: { BUILDER_ROOT: root } });
    assert.equal(linked.code, 0, linked.stderr);
    assert.match(linked.stdout, /^CONTAINER ID/);
  });

  it('writes a code cache per hot command that V8 then accepts', async () => {
    const result = await runCli(['ps', '-a'], { root });
    assert.equal(result.code, 0, result.stderr);
    const caches = readdirSync(CACHE_DIR).filter((name) => name.startsWith('ps-') && name.endsWith(`-${process.version}.bin`));
    assert.equal(caches.length, 1, `one ps cache in ${CACHE_DIR}: ${readdirSync(CACHE_DIR).join(', ')}`);
    const script = new vm.Script(Module.wrap(readFileSync(BUNDLE, 'latin1')), {
      filename: BUNDLE,
      cachedData: readFileSync(path.join(CACHE_DIR, caches[0]!)),
    });
    assert.equal(script.cachedDataRejected, false);
  });

  it('a build that ran a RUN replaces the build cache a lighter build wrote; a later light build keeps it', async function () {
    if (process.getuid?.() !== 0) {
      console.log('    skipped: needs root (the RUN step runs runc)');
      this.skip();
    }
    const scratch = await makeTempDir('cli-bundle-ctx');
    try {
      const builds = (): string[] => readdirSync(CACHE_DIR).filter((name) => name.startsWith('build-') && name.includes(process.version));
      for (const name of builds()) rmSync(path.join(CACHE_DIR, name), { force: true });
      await loadBusyboxFixture(root, scratch);
      const context = async (name: string, dockerfile: string): Promise<string> => {
        await mkdir(path.join(scratch, name));
        await writeFile(path.join(scratch, name, 'Dockerfile'), dockerfile);
        return path.join(scratch, name);
      };
      expectSuccess(await runCli(['build', '-q', await context('light', 'FROM busybox\nLABEL tier=light\n')], { root }), 'light build');
      const light = builds();
      assert.equal(light.length, 1, `one build cache: ${light.join(', ')}`);
      assert.ok(!light[0]!.endsWith('-heavy.bin'), light[0]);
      expectSuccess(await runCli(['build', '-q', await context('heavy', 'FROM busybox\nRUN echo heavy > /x\n')], { root }), 'build with a RUN');
      const heavy = builds().find((name) => name.endsWith('-heavy.bin'));
      assert.ok(heavy, `a heavy cache beside ${light[0]}: ${builds().join(', ')}`);
      const heavyFile = path.join(CACHE_DIR, heavy);
      assert.ok(statSync(heavyFile).size > statSync(path.join(CACHE_DIR, light[0]!)).size, 'it holds the functions the RUN path compiled');
      const script = new vm.Script(Module.wrap(readFileSync(BUNDLE, 'latin1')), { filename: BUNDLE, cachedData: readFileSync(heavyFile) });
      assert.equal(script.cachedDataRejected, false);
      const written = statSync(heavyFile).mtimeMs;
      expectSuccess(await runCli(['build', '-q', await context('light-again', 'FROM busybox\nLABEL tier=again\n')], { root }), 'light build again');
      assert.equal(statSync(heavyFile).mtimeMs, written, 'a light run loads the heavy cache and rewrites nothing');
    } finally {
      await removeTempDir(scratch);
    }
  });

  it('is plain ASCII, so the loader may read it as latin1, and strict like the ES modules it is made of', () => {
    const bytes = readFileSync(BUNDLE);
    assert.equal(bytes.findIndex((byte) => byte > 0x7f), -1);
    // A directive counts only as the first statement: anything before it would make the bundle sloppy mode.
    assert.match(bytes.subarray(0, 40).toString('latin1'), /^'use strict';/);
  });
});
