/**
 * `builder push` and `builder pull` as users run them (bin/builder): the short path (builder/cli/registry-fast.ts, its
 * own small bundle and code cache) must print what the whole CLI prints, with the same exit codes, and hand anything
 * it does not run itself (help, a parse error, --debug) to the whole CLI without printing a thing of its own.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { repoRoot, runCli, runCommand, type CliResult } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const LAUNCHER = path.join(repoRoot, 'bin', 'builder');
const CLI_DIR = path.join(repoRoot, 'dist', 'builder', 'cli');
const BUNDLE = path.join(CLI_DIR, 'registry-bundle.cjs');
const CACHE_DIR = path.join(CLI_DIR, '.code-cache');

/** Progress lines in a stable order: the layers' lines come as their requests finish. */
const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '').sort();

describe('builder push and pull from bin/builder (the short path)', function () {
  this.timeout(120_000);
  let work: string;
  let root: string;
  /** A second store with the same image: its first push knows no sources either, so it uploads as the first does. */
  let otherRoot: string;
  let registry: RegistryServer;

  before(async function () {
    if (!readdirSync(CLI_DIR).includes('registry-bundle.cjs')) {
      console.log(`    skipped: ${BUNDLE} is missing (npm run build writes it)`);
      return this.skip();
    }
    work = await makeTempDir('registry-fast');
    root = path.join(work, 'root');
    otherRoot = path.join(work, 'other-root');
    await loadBusyboxFixture(root, work);
    await loadBusyboxFixture(otherRoot, work);
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
    if (work) await removeTempDir(work);
  });

  const launched = (args: string[], storeRoot = root): Promise<CliResult> => runCommand(LAUNCHER, args, { env: { BUILDER_ROOT: storeRoot } });
  // The whole CLI: main.js loads cli-bundle.cjs and never the short path.
  const whole = (args: string[], storeRoot = root): Promise<CliResult> => runCli(args, { root: storeRoot });

  it('pushes and pulls as the whole CLI does: output, progress and exit codes, and a code cache per command', async () => {
    const pushedShort = await launched(['push', 'busybox:latest', `${registry.host}/fast/short:1`]);
    const pushedWhole = await whole(['push', 'busybox:latest', `${registry.host}/fast/whole:1`], otherRoot);
    assert.equal(pushedShort.code, 0, pushedShort.stderr);
    assert.equal(pushedWhole.code, 0, pushedWhole.stderr);
    const digest = pushedWhole.stdout.trim().split('@')[1];
    assert.equal(pushedShort.stdout, `${registry.host}/fast/short:1@${digest}\n`);
    assert.deepEqual(lines(pushedShort.stderr), lines(pushedWhole.stderr.replaceAll('fast/whole', 'fast/short')));
    assert.match(pushedShort.stderr, /: Pushed\n/);

    const quiet = await launched(['push', '-q', 'busybox:latest', `${registry.host}/fast/short:2`]);
    assert.deepEqual(quiet, { code: 0, stdout: `${registry.host}/fast/short:2@${digest}\n`, stderr: '' });

    const pullShortRoot = path.join(work, 'pull-short');
    const pullWholeRoot = path.join(work, 'pull-whole');
    const pulledShort = await launched(['pull', `${registry.host}/fast/short:1`], pullShortRoot);
    const pulledWhole = await whole(['pull', `${registry.host}/fast/short:1`], pullWholeRoot);
    assert.equal(pulledShort.code, 0, pulledShort.stderr);
    assert.deepEqual(pulledShort, pulledWhole);
    const images = await launched(['images'], pullShortRoot);
    assert.match(images.stdout, new RegExp(`${registry.host}/fast/short\\s+1\\s`));

    // The short path ran, and V8 accepts what it wrote.
    const source = readFileSync(BUNDLE, 'latin1');
    for (const command of ['push', 'pull']) {
      const caches = readdirSync(CACHE_DIR).filter((name) => name.startsWith(`registry-${command}-`) && name.endsWith(`-${process.version}.bin`));
      assert.equal(caches.length, 1, `one ${command} cache in ${CACHE_DIR}: ${readdirSync(CACHE_DIR).join(', ')}`);
      const script = new vm.Script(Module.wrap(source), { filename: BUNDLE, cachedData: readFileSync(path.join(CACHE_DIR, caches[0]!)) });
      assert.equal(script.cachedDataRejected, false);
    }
  });

  it('fails as the whole CLI does: no such image, no such tag, a bad reference', async () => {
    const cases = [
      ['push', 'nosuch:1', `${registry.host}/fast/none:1`],
      ['push', '-q', 'busybox:latest', `${registry.host}/Fast/Upper:1`],
      ['pull', `${registry.host}/fast/short:no-such-tag`],
      ['pull', 'not a reference'],
    ];
    for (const args of cases) {
      const short = await launched(args);
      assert.notEqual(short.code, 0, `${args.join(' ')} failed`);
      assert.deepEqual(short, await whole(args), args.join(' '));
    }
  });

  it('leaves help, parse errors and --debug to the whole CLI', async () => {
    const cases = [
      ['push', '--help'],
      ['pull', '--help'],
      ['push'],
      ['push', '--no-such-flag', 'busybox:latest'],
      ['push', 'a', 'b', 'c'],
      ['--debug', 'push', 'nosuch:1', `${registry.host}/fast/none:1`],
    ];
    for (const args of cases) assert.deepEqual(await launched(args), await whole(args), args.join(' '));
  });
});
