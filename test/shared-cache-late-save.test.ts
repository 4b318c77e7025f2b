/**
 * A pushing build (the farm worker's job) returns when its push is done and saves the image in its own store after
 * (solver/export-image.ts). Against real parts (Redis, docker-registry, runc): when the build's `saved` settles, or
 * the engine closes, the tag and the blobs it names are in the store and match their digests; a build right after
 * on the same engine sees the tag; a save that fails (the store's blob directory made immutable with chattr, so even
 * root cannot add a file) is a warning, the push stands, and no tag names a blob that is not there.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { emptyConfig } from '../builder/config.js';
import { createEngine, type Engine, type EngineBuildResult } from '../builder/engine.js';
import type { BuildEvent } from '../builder/events.js';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { runCommand } from './helpers/cli.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { validateRegistryImage } from './helpers/oci-validate.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('a pushed build\'s local save, after its result', function () {
  this.timeout(120_000);
  let work = '';
  let redis: RedisServer;
  let registry: RegistryServer;
  const engines: Engine[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('      (skipped: builds need root for runc and overlay mounts)');
      this.skip();
    }
    work = await makeTempDir('late-save');
    [redis, registry] = await Promise.all([startRedis(), startRegistry()]);
  });
  after(async () => {
    for (const engine of engines) await engine.close().catch(() => undefined);
    await redis?.stop();
    await registry?.stop();
    await removeTempDir(work);
  });

  const worker = async (name: string): Promise<Engine> => {
    const root = await makeFixtureRoot(`late-${name}`, work);
    const engine = await createEngine({ root, workerName: name, cache: { type: 'tiered', redisUrl: redis.url, repo: `${registry.host}/farm/late-cache` } });
    engines.push(engine);
    return engine;
  };
  const project = async (name: string, dockerfile: string): Promise<string> => {
    const dir = path.join(work, `ctx-${name}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    return dir;
  };
  const pushBuild = async (engine: Engine, dir: string, tag: string): Promise<{ result: EngineBuildResult; events: BuildEvent[] }> => {
    const events: BuildEvent[] = [];
    const result = await engine.build({
      contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [tag], buildArgs: {}, noCache: false, network: 'none',
      push: { config: emptyConfig() },
    }, { onEvent: (event) => events.push(event) });
    return { result, events };
  };
  const warnings = (events: BuildEvent[]): string[] => events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
  const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const blobPath = (engine: Engine, digest: string): string => path.join(engine.store.ociDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  /** Every manifest index.json names is in the store with its digest, and so is the config it names. */
  const assertIndexWhole = async (engine: Engine): Promise<void> => {
    const index = JSON.parse(await readFile(path.join(engine.store.ociDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    for (const { digest } of index.manifests) {
      const manifest = await readFile(blobPath(engine, digest));
      assert.equal(sha256(manifest), digest, `manifest ${digest} matches its digest`);
      const config = (JSON.parse(manifest.toString()) as { config: { digest: string } }).config.digest;
      assert.equal(sha256(await readFile(blobPath(engine, config))), config, `config ${config} matches its digest`);
    }
  };
  const leftovers = async (engine: Engine): Promise<string[]> =>
    (await readdir(engine.store.tmpDir)).filter((name) => name.startsWith('blob-') || name.startsWith('index-'));

  it('when the save settles the tag and its blobs are in the store, digest-verified; the next build on the engine sees the tag', async () => {
    const dir = await project('ok', `FROM busybox\nRUN echo late-${Date.now()} > /made\nENV MODE=late\n`);
    const tag = `${registry.host}/app/late:1`;
    await pushBuild(await worker('ok-maker'), dir, tag);
    const fresh = await worker('ok-fresh');
    const { result, events } = await pushBuild(fresh, dir, tag);
    assert.deepEqual(warnings(events), []);
    assert.equal(result.pushed?.[0]?.digest, result.manifest.digest);
    // The build that comes next on this engine waits for the save: FROM the tag is found in the store (a base image
    // missing there would be pulled, with `transfer` events).
    const next = await project('next', `FROM ${tag}\nRUN cat /made\n`);
    const nextEvents: BuildEvent[] = [];
    await fresh.build({ contextDir: next, dockerfilePath: path.join(next, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [], buildArgs: {}, noCache: false, network: 'none' },
      { onEvent: (event) => nextEvents.push(event) });
    assert.deepEqual(nextEvents.filter((e) => e.type === 'transfer' && e.direction === 'pull'), [], 'FROM the tag pulled nothing');
    assert.ok(nextEvents.some((e) => e.type === 'step.log' && e.data.includes('late-')), 'the RUN on top read the image');
    assert.equal(await result.saved, undefined, 'the save did not fail');
    const tagged = await fresh.store.resolve(tag);
    assert.equal(tagged?.manifestDescriptor.digest, result.manifest.digest, 'the tag names the pushed manifest');
    await assertIndexWhole(fresh);
    assert.deepEqual(await leftovers(fresh), []);
    // close() waits for saves too: a second pushed build, closed at once.
    const other = await worker('ok-closed');
    await pushBuild(other, dir, tag);
    await other.close();
    assert.equal((await other.store.resolve(tag))?.manifestDescriptor.digest, result.manifest.digest);
    await assertIndexWhole(other);
  });

  it('a save that fails after the push warns, keeps the push, and leaves no tag naming a missing blob', async function () {
    const dir = await project('fail', `FROM busybox\nRUN echo unsaved-${Date.now()} > /made\n`);
    const tag = `${registry.host}/app/unsaved:1`;
    const made = await pushBuild(await worker('fail-maker'), dir, tag);
    const fresh = await worker('fail-fresh');
    const blobs = path.join(fresh.store.ociDir, 'blobs', 'sha256');
    const before = await readFile(path.join(fresh.store.ociDir, 'index.json'), 'utf8');
    // A fully cached build adds no layer blob to this store (its layers stay in the registry): only the image's
    // config and manifest, which the push does not need from disk, so only the save meets the immutable directory.
    const locked = await runCommand('chattr', ['+i', blobs]);
    if (locked.code !== 0) {
      console.log(`      (skipped: chattr +i ${blobs} failed: ${locked.stderr.trim()})`);
      this.skip();
    }
    let built: { result: EngineBuildResult; events: BuildEvent[] };
    let failure: string | undefined;
    try {
      built = await pushBuild(fresh, dir, tag);
      failure = await built.result.saved;
    } finally {
      await runCommand('chattr', ['-i', blobs]);
    }
    assert.equal(built.result.manifest.digest, made.result.manifest.digest);
    assert.equal(built.result.pushed?.[0]?.digest, built.result.manifest.digest, 'the push stands');
    assert.deepEqual(await validateRegistryImage(registry.host, 'app/unsaved', '1'), []);
    assert.match(failure ?? '', /was pushed, but saving the image in this worker's store failed/);
    const warned = warnings(built.events);
    assert.ok(warned.some((message) => message === failure), JSON.stringify(warned));
    assert.equal(await fresh.store.resolve(tag), undefined, 'no tag');
    assert.equal(await readFile(path.join(fresh.store.ociDir, 'index.json'), 'utf8'), before, 'index.json untouched');
    assert.equal(await fresh.store.hasBlob(built.result.manifest.digest), false);
    await assertIndexWhole(fresh);
    assert.deepEqual(await leftovers(fresh), [], 'no temp blob or prepared index left in tmp/');
    // The store works again once its directory does: the same build tags it.
    const again = await pushBuild(fresh, dir, tag);
    assert.equal(await again.result.saved, undefined);
    assert.equal((await fresh.store.resolve(tag))?.manifestDescriptor.digest, made.result.manifest.digest);
    await assertIndexWhole(fresh);
  });
});
