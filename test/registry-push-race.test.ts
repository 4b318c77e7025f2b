/**
 * Two processes pushing one image to one repository at the same moment, against the real docker-registry: what two
 * farm workers do when they finish the same build together. Once seen as MANIFEST_BLOB_UNKNOWN (a mount the
 * registry acknowledged but had not linked yet); each round here must leave both pushes successful and an image
 * that skopeo copies with every blob verified.
 */
import { strict as assert } from 'node:assert';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const ROUNDS = 5;

describe('registry push: two processes push one image at once (real docker-registry)', function () {
  this.timeout(180_000);
  let work: string;
  let root: string;
  let registry: RegistryServer;

  before(async function () {
    work = await makeTempDir('registry-push-race');
    root = path.join(work, 'root');
    await loadBusyboxFixture(root, work);
    registry = await startRegistry();
    const dir = path.join(work, 'ctx');
    await mkdir(dir, { recursive: true });
    // Several layers of a few MB each: uploads overlap for long enough that the two pushes interleave.
    await writeFile(path.join(dir, 'Dockerfile'), [
      'FROM busybox',
      'RUN head -c 3000000 /dev/urandom > /a',
      'RUN head -c 3000000 /dev/urandom > /b',
      'RUN head -c 3000000 /dev/urandom > /c',
      '',
    ].join('\n'));
    expectSuccess(await runCli(['build', '-t', 'race:v1', dir], { root }), 'build');
  });
  after(async function () {
    await registry?.stop();
    await removeTempDir(work);
  });

  async function race(repository: string): Promise<void> {
    const ref = `${registry.host}/${repository}:v1`;
    const [first, second] = await Promise.all([runCli(['push', 'race:v1', ref], { root }), runCli(['push', 'race:v1', ref], { root })]);
    expectSuccess(first, `first push to ${repository}`);
    expectSuccess(second, `second push to ${repository}`);
    await mkdir(path.join(work, 'copies'), { recursive: true });
    const copy = path.join(work, 'copies', repository.replace(/\//g, '_'));
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `dir:${copy}`]), `skopeo copy of ${ref} verifies every blob`);
  }

  it(`both uploads of every blob succeed (${ROUNDS} rounds, fresh repositories)`, async function () {
    for (let round = 0; round < ROUNDS; round++) await race(`upload/r${round}`);
  });

  it(`both succeed when each may mount the blobs from another repository (${ROUNDS} rounds)`, async function () {
    // The first test's pushes recorded upload/r* as sources: every push here tries cross-repository mounts first.
    for (let round = 0; round < ROUNDS; round++) await race(`mount/r${round}`);
    const stderr = (await runCli(['push', 'race:v1', `${registry.host}/mount/check:v1`], { root })).stderr;
    assert.match(stderr, /Mounted from (upload|mount)\/r/, `the pushes really did mount: ${stderr}`);
  });
});
