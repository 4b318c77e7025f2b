/**
 * kaniko's container-diff oracle: the same Dockerfile built by builder and by Docker/BuildKit must
 * give the same root filesystem (types, modes, owners, sizes, links; not mtimes). Both images are
 * unpacked by umoci, so neither engine's own reader is trusted. Needs dockerd; skipped without it.
 */
import { strict as assert } from 'node:assert';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { discoverCases } from './helpers/cases.js';
import { expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { DOCKER, dockerEngine, dockerReachable, loadOracleBase, ORACLE_BASE } from './helpers/docker-oracle-engine.js';
import { describeTree, diffTrees } from './helpers/file-tree.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

/** Cases whose filesystem is the point: whiteouts, links, special bits, ownership, extraction, ignore rules. */
const CASES = ['whiteout-delete', 'links', 'setuid', 'copy-chown-chmod', 'add-tar-gz', 'dockerignore', 'user-name'];

async function unpack(layout: string, ref: string, bundle: string): Promise<Map<string, string>> {
  expectSuccess(await runCommand('umoci', ['unpack', '--image', `${layout}:${ref}`, bundle]), `umoci unpack ${ref}`);
  return describeTree(path.join(bundle, 'rootfs'));
}

describe('same filesystem as docker (container-diff)', function () {
  this.timeout(180_000);
  let root = '';
  let work = '';
  let emptyContext = '';
  const dockerTags: string[] = [];

  before(async function () {
    if (!(await dockerReachable())) {
      console.log(`      skipped: dockerd is not running (\`${DOCKER} info\` failed)`);
      this.skip();
    }
    root = await makeTempDir('diff-root');
    work = await makeTempDir('diff-work');
    emptyContext = path.join(work, 'empty-context');
    await mkdir(emptyContext);
    await loadBusyboxFixture(root, work);
    await loadOracleBase(work);
  });

  after(async function () {
    for (const tag of dockerTags) await runCommand(DOCKER, ['rmi', '-f', tag]);
    if (dockerTags.length > 0) await runCommand(DOCKER, ['rmi', `${ORACLE_BASE}:latest`]);
    await removeTempDir(root);
    await removeTempDir(work);
  });

  for (const testCase of discoverCases().filter((c) => CASES.includes(c.name))) {
    it(`${testCase.name}: builder and docker give the same files`, async function () {
      const context = testCase.context ?? emptyContext;
      const tag = `diff-${testCase.name}:latest`;
      const args = testCase.expect.args ?? [];
      expectSuccess(await runCli(['build', '-t', tag, '-f', testCase.dockerfile, ...args, context], { root }), 'builder build');
      dockerTags.push(tag);
      expectSuccess(await dockerEngine(work).build(testCase, tag, context), 'docker build');

      const ours = path.join(work, `${testCase.name}-ours`);
      await runCommand('cp', ['-a', path.join(root, 'oci'), `${ours}-layout`]); // umoci may write into a layout
      const ourTree = await unpack(`${ours}-layout`, tag, `${ours}-bundle`);

      const theirs = path.join(work, `${testCase.name}-docker`);
      expectSuccess(await runCommand(DOCKER, ['save', '-o', `${theirs}.tar`, tag]), 'docker save');
      expectSuccess(await runCommand('skopeo', ['copy', `docker-archive:${theirs}.tar`, `oci:${theirs}-layout:${tag}`]), 'skopeo copy');
      const dockerTree = await unpack(`${theirs}-layout`, tag, `${theirs}-bundle`);

      assert.ok(ourTree.has('/bin/busybox') && dockerTree.has('/bin/busybox'), 'both unpacked trees hold the base image');
      const differences = diffTrees(dockerTree, ourTree);
      assert.deepEqual(differences, [], `builder vs docker filesystem:\n${differences.join('\n')}`);
    });
  }
});
