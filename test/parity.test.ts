/**
 * Parity with Docker/BuildKit: every test-dockerfiles case is built by builder and by
 * `DOCKER_BUILDKIT=1 docker build`, then the container-facing config fields and the flattened root
 * filesystems (type, mode, owner, size, content digest, link target, hardlink count) must agree,
 * unless the case's expect.json documents the difference ("parity": { skip | ignore }).
 * Negative cases must fail with both. dockerd is started (scripts/start-dockerd.sh) when it is
 * missing and we are root; without it the suite says so and skips. BUILDER_CASE=<name> runs one case.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import PQueue from 'p-queue';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { discoverCases, type DockerfileCase } from './helpers/cases.js';
import { runCli, runCommand, type CliResult } from './helpers/cli.js';
import {
  DOCKER,
  dockerEngine,
  ensureDockerd,
  loadOracleBase,
  ORACLE_BASE,
  saveDockerImage,
  stopDockerd,
  type DockerdState,
} from './helpers/docker-oracle-engine.js';
import { flattenImage, readDockerArchiveDir, readOciLayout } from './helpers/image-tree.js';
import { applyIgnores, diffConfigs, diffFileTrees } from './helpers/parity-compare.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

/** What building one case with both engines gave. */
interface Outcome {
  ours: CliResult;
  docker: CliResult;
  differences: string[];
  /** The comparison itself broke (unreadable image…). */
  failure?: string;
  /** Documented differences that no longer occur: the note in expect.json can go. */
  stale?: string[];
}

const MIN_CASES = 170;
// Each case runs both engines at once, so 3 cases keep 2 cores busy without starving runc.
const CONCURRENCY = Number(process.env.BUILDER_PARITY_CONCURRENCY ?? 3);
/** BUILDER_CASE=a,b runs only those cases (comma-separated). */
const only = process.env.BUILDER_CASE?.split(',').filter(Boolean);
/** Docker tags carry the pid: two suite runs at once must not remove each other's images. */
const dockerTag = (name: string): string => `parity-${process.pid}-${name}:latest`;
const show = (result: CliResult): string => `exit ${result.code}\n${result.stderr.trim().split('\n').slice(-12).join('\n')}`;

describe('parity with Docker/BuildKit (test-dockerfiles)', function () {
  this.timeout(300_000);
  const cases = discoverCases().filter((testCase) => !only || only.includes(testCase.name));
  const outcomes = new Map<string, Promise<Outcome>>();
  const queue = new PQueue({ concurrency: CONCURRENCY });
  let dockerd: DockerdState = { reachable: false, startedByUs: false };
  let root = '';
  let work = '';
  let emptyContext = '';

  async function buildBoth(testCase: DockerfileCase): Promise<Outcome> {
    const tag = `parity-${testCase.name}:latest`;
    const theirTag = dockerTag(testCase.name);
    const context = testCase.context ?? emptyContext;
    const args = testCase.expect.args ?? [];
    const [ours, docker] = await Promise.all([
      runCli(['build', '--progress=plain', '-t', tag, '-f', testCase.dockerfile, ...args, context], { root }),
      dockerEngine(work).build(testCase, theirTag, context),
    ]);
    const outcome: Outcome = { ours, docker, differences: [] };
    if (testCase.expect.error || ours.code !== 0 || docker.code !== 0) return outcome;
    const saved = path.join(work, `save-${testCase.name}`);
    try {
      await saveDockerImage(theirTag, saved);
      const [dockerImage, ourImage] = await Promise.all([readDockerArchiveDir(saved), readOciLayout(path.join(root, 'oci'), tag)]);
      const [dockerTree, ourTree] = await Promise.all([flattenImage(dockerImage), flattenImage(ourImage)]);
      // Guards the reader itself: every non-scratch case holds the base image's busybox.
      if (!dockerTree.has('/bin/busybox') && !/^FROM\s+scratch\s*$/im.test(readFileSync(testCase.dockerfile, 'utf8'))) {
        outcome.failure = 'the docker image has no /bin/busybox: the archive reader is broken';
      }
      const { undocumented, stale } = applyIgnores(
        [...diffConfigs(dockerImage.config, ourImage.config), ...diffFileTrees(dockerTree, ourTree)],
        testCase.expect.parity?.ignore,
      );
      outcome.differences = undocumented;
      outcome.stale = stale.map((entry) => entry.path ?? entry.field ?? '?');
    } catch (err) {
      outcome.failure = (err as Error).stack ?? String(err);
    } finally {
      await rm(saved, { recursive: true, force: true });
      await rm(`${saved}.tar`, { force: true });
    }
    return outcome;
  }

  before(async function () {
    dockerd = await ensureDockerd();
    if (!dockerd.reachable) {
      console.log(`      parity SKIPPED: no dockerd answers at ${DOCKER} and none could be started: ${dockerd.reason ?? 'unknown'}`);
      this.skip();
    }
    if (dockerd.startedByUs) console.log('      parity: started dockerd for this run (stopped again afterwards)');
    root = await makeTempDir('parity-root');
    work = await makeTempDir('parity-work');
    emptyContext = path.join(work, 'empty-context');
    await mkdir(emptyContext);
    await Promise.all([loadBusyboxFixture(root, work), loadOracleBase(work)]);
    // Build everything up front through one queue; each it() then awaits its own case.
    for (const testCase of cases) {
      if (testCase.expect.parity?.skip) continue;
      outcomes.set(testCase.name, queue.add(() => buildBoth(testCase), { throwOnTimeout: true }));
    }
  });

  after(async function () {
    queue.clear();
    await queue.onIdle();
    if (dockerd.reachable && outcomes.size > 0) {
      await runCommand(DOCKER, ['rmi', '-f', ...[...outcomes.keys()].map(dockerTag)]);
      await runCommand(DOCKER, ['rmi', `${ORACLE_BASE}:latest`]);
    }
    await removeTempDir(root);
    await removeTempDir(work);
    await stopDockerd(dockerd);
  });

  it(`has at least ${MIN_CASES} cases`, function () {
    if (only) this.skip(); // BUILDER_CASE picks one case on purpose; counting cases makes no sense then
    assert.ok(cases.length >= MIN_CASES, `expected at least ${MIN_CASES} cases in test-dockerfiles/, found ${cases.length}`);
  });

  for (const testCase of cases) {
    it(`${testCase.name}: same as BuildKit`, async function () {
      const skip = testCase.expect.parity?.skip;
      if (skip) {
        console.log(`        documented: ${testCase.name} not built by docker: ${skip}`);
        this.skip();
      }
      const outcome = await outcomes.get(testCase.name);
      assert.ok(outcome, 'the case was not built');
      if (testCase.expect.error) {
        assert.notEqual(outcome.ours.code, 0, `builder should fail:\n${show(outcome.ours)}`);
        assert.notEqual(outcome.docker.code, 0, `docker should fail too (or document why not):\n${show(outcome.docker)}`);
        return;
      }
      assert.equal(outcome.docker.code, 0, `docker build failed:\n${show(outcome.docker)}`);
      assert.equal(outcome.ours.code, 0, `builder build failed:\n${show(outcome.ours)}`);
      assert.equal(outcome.failure, undefined);
      if (outcome.stale?.length) console.log(`        note: ${testCase.name} documents differences no longer seen: ${outcome.stale.join(', ')}`);
      assert.deepEqual(outcome.differences, [], `builder differs from BuildKit:\n${outcome.differences.join('\n')}`);
    });
  }
});
