/**
 * Three processes pushing one image to one repository at the same moment, against the real docker-registry: what farm
 * workers do when they finish the same build together. docker-registry 2.8 rewrites a blob's repository link in place
 * whenever it is linked again, so a manifest check racing another pusher's re-link reads an empty link and answers
 * MANIFEST_BLOB_UNKNOWN (with DIGEST_INVALID). With push.ts's retry disabled this shape failed 1 push in 45 (15
 * rounds); every round here must leave all pushes successful and an image skopeo copies with every blob verified.
 */
import { strict as assert } from 'node:assert';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const ROUNDS = 8;
const PUSHERS = 3;
const LAYERS = 16;

describe('registry push: three processes push one image at once (real docker-registry)', function () {
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
    // Many small layers: many links for the pushers to rewrite while another one's manifest is checked.
    const steps = Array.from({ length: LAYERS }, (_, i) => `RUN head -c ${100_000 + i} /dev/urandom > /f${i}`);
    await writeFile(path.join(dir, 'Dockerfile'), ['FROM busybox', ...steps, ''].join('\n'));
    expectSuccess(await runCli(['build', '-t', 'race:v1', dir], { root }), 'build');
  });
  after(async function () {
    await registry?.stop();
    await removeTempDir(work);
  });

  async function race(repository: string): Promise<void> {
    const ref = `${registry.host}/${repository}:v1`;
    const results = await Promise.all(Array.from({ length: PUSHERS }, () => runCli(['push', 'race:v1', ref], { root })));
    for (const [i, result] of results.entries()) expectSuccess(result, `push ${i + 1} of ${PUSHERS} to ${repository}`);
    await mkdir(path.join(work, 'copies'), { recursive: true });
    const copy = path.join(work, 'copies', repository.replace(/\//g, '_'));
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `dir:${copy}`]), `skopeo copy of ${ref} verifies every blob`);
  }

  it(`every push succeeds, uploading (round 1) or mounting from the earlier rounds' repositories (${ROUNDS} rounds)`, async function () {
    for (let round = 0; round < ROUNDS; round++) await race(`race/r${round}`);
    const stderr = (await runCli(['push', 'race:v1', `${registry.host}/race/check:v1`], { root })).stderr;
    assert.match(stderr, /Mounted from race\/r/, `later pushes mount: ${stderr}`);
  });
});
