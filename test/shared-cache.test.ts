/**
 * The farm's shared cache against real parts: Redis (the index), docker-registry (the blobs), real runc builds.
 * Engines in this process stand for workers with their own stores; single-flight and a killed lease holder use
 * separate CLI processes. Every failure of the cache (Redis down, registry down, a blob gone, a blob with wrong
 * bytes) must leave the build succeeding with a warning.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { emptyConfig } from '../builder/config.js';
import { createEngine, type CacheOptions, type Engine, type EngineBuildResult } from '../builder/engine.js';
import type { BuildEvent } from '../builder/events.js';
import { pushImage } from '../builder/registry/push.js';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { cliMain, expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';
import { registryBlobPath, startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { validateRegistryImage } from './helpers/oci-validate.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';
import { Tracer } from '../builder/trace/tracer.js';

interface Built { result: EngineBuildResult; events: BuildEvent[] }

describe('shared cache (Redis index + registry blobs)', function () {
  this.timeout(180_000);
  let work = '';
  let redis: RedisServer;
  let registry: RegistryServer;
  let cacheRepo = '';
  const engines: Engine[] = [];

  before(async () => {
    work = await makeTempDir('shared-cache');
    [redis, registry] = await Promise.all([startRedis(), startRegistry()]);
    cacheRepo = `${registry.host}/farm/cache`;
  });
  after(async () => {
    for (const engine of engines) await engine.close();
    await redis?.stop();
    await registry?.stop();
    await removeTempDir(work);
  });

  let counter = 0;
  /** A worker: a fresh store with only busybox in it, on the shared cache. */
  async function worker(name: string, cache: Partial<CacheOptions> = {}): Promise<Engine> {
    const root = await makeFixtureRoot(`sc-${name}`, work);
    const engine = await createEngine({ root, workerName: name, cache: { type: 'tiered', redisUrl: redis.url, repo: cacheRepo, ...cache } as CacheOptions });
    engines.push(engine);
    return engine;
  }
  async function context(files: Record<string, string>): Promise<string> {
    const dir = path.join(work, `ctx-${++counter}`);
    await mkdir(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    return dir;
  }
  async function build(engine: Engine, dir: string, tags: string[] = []): Promise<Built> {
    const events: BuildEvent[] = [];
    const result = await engine.build({
      contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags, buildArgs: {}, noCache: false, network: 'none',
    }, { onEvent: (event) => events.push(event) });
    return { result, events };
  }
  const of = <T extends BuildEvent['type']>(events: BuildEvent[], type: T): Extract<BuildEvent, { type: T }>[] =>
    events.filter((e): e is Extract<BuildEvent, { type: T }> => e.type === type);

  it('a build on worker A is fully cached on worker B with an empty store: same digest, no layer downloaded, push uploads no layer', async () => {
    const dir = await context({
      Dockerfile: 'FROM busybox\nCOPY app.txt /app/\nRUN cat /app/app.txt > /app/copy && echo built > /app/run\nENV MODE=prod\nCMD ["cat", "/app/run"]\n',
      'app.txt': `shared ${Date.now()}\n`,
    });
    const a = await build(await worker('worker-a'), dir);
    assert.equal(of(a.events, 'step.cached').length, 0);
    const b = await worker('worker-b');
    const second = await build(b, dir, [`${registry.host}/app/pushed:1`]);
    assert.equal(second.result.manifest.digest, a.result.manifest.digest, 'same image digest on both workers');
    const cached = of(second.events, 'step.cached');
    assert.equal(cached.length, 2, 'COPY and RUN cached');
    assert.ok(cached.every((e) => e.builtBy === 'worker-a'), 'each names the worker that built it');
    assert.equal(of(second.events, 'step.start').filter((e) => e.name.includes('RUN') || e.name.includes('COPY')).length, 0);
    assert.equal(second.result.cache.bytesFetched, 0);
    assert.equal((second.result.cache.hits.shared ?? 0) > 0, true);
    const layers = (await b.store.resolve(`${registry.host}/app/pushed:1`))!.manifest.layers;
    const built = layers.slice(-2);
    for (const layer of built) assert.equal(await b.store.hasBlob(layer.digest), false, `${layer.digest} stays in the cache registry`);

    const pushed = await pushImage(b.store, `${registry.host}/app/pushed:1`, `${registry.host}/app/pushed:1`);
    // The built layers are mounted from the cache repository; busybox's layer came from a local archive (in a farm
    // the base is pulled, and blob-sources.json makes it a mount too).
    for (const layer of built) assert.equal(pushed.blobs![layer.digest], 'mounted', `layer ${layer.digest} was not mounted`);
    const inspected = expectSuccess(await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/app/pushed:1`]), 'skopeo inspect');
    assert.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, a.result.manifest.digest);

    // A step on top needs the files: the layer is fetched then, and only then.
    const more = await context({ Dockerfile: (await readFile(path.join(dir, 'Dockerfile'), 'utf8')) + 'RUN cat /app/run /app/copy\n', 'app.txt': await readFile(path.join(dir, 'app.txt'), 'utf8') });
    const third = await build(b, more);
    assert.ok(third.result.cache.bytesFetched > 0, 'the cached layers were fetched for the RUN on top');
    const logs = of(third.events, 'step.log').map((e) => e.data).join('');
    assert.match(logs, /built\nshared /);

    // `builder run` (another process) of an image whose layers a cache hit named fetches what it lacks from where the
    // build recorded they live (registry/blob-sources.json).
    const c = await worker('worker-c');
    await build(c, dir, ['lazy/run:1']);
    for (const layer of built) assert.equal(await c.store.hasBlob(layer.digest), false);
    const ran = expectSuccess(await runCli(['run', '--rm', '--network=none', 'lazy/run:1'], { root: c.store.root }), 'builder run');
    assert.equal(ran.stdout, 'built\n');
  });

  it('read-ahead: a fresh worker reads a fully cached build\'s records in one index read (at most two), not one per step', async () => {
    const dir = await context({
      Dockerfile: 'FROM busybox\nCOPY app.txt /app/\nRUN echo one > /one\nRUN echo two > /two\nRUN echo three > /three\nENV MODE=ahead\nCMD ["cat", "/one"]\n',
      'app.txt': `ahead ${Date.now()}\n`,
    });
    const first = await build(await worker('ahead-maker'), dir);
    const { Redis } = await import('ioredis');
    // monitor() opens a connection of its own: the client it came from is closed too, or it reconnects forever
    // (and prints ioredis's unhandled errors) once a later test stops this Redis.
    const origin = new Redis(redis.url);
    const monitor = await origin.monitor();
    // What the engine sends (commands a script runs inside Redis show with source "lua" and are not round trips).
    const sent: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => { if (source !== 'lua') sent.push(String(args[0]).toLowerCase()); });
    try {
      const fresh = await worker('ahead-fresh');
      await new Promise((resolve) => setTimeout(resolve, 200));
      sent.length = 0;
      const second = await build(fresh, dir);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(second.result.manifest.digest, first.result.manifest.digest);
      assert.equal(second.result.cache.misses, 0, 'every step hit');
      const reads = sent.filter((c) => c === 'get' || c === 'eval' || c === 'mget');
      // Six steps: without the read-ahead each is a GET of its own; the first lookup's call brings the rest (one more
      // is allowed: a walk older than 2 s on a crawling machine is asked again).
      assert.ok(reads.length <= 2, `${reads.length} index reads for a six-step build: ${sent.join(' ')}`);
    } finally {
      monitor.disconnect();
      origin.disconnect();
    }
  });

  it('a miss is explained on any worker: the trace another worker left says what changed', async () => {
    const dir = await context({ Dockerfile: 'FROM busybox\nCOPY notes.txt /\nRUN cat /notes.txt\n', 'notes.txt': `v1 ${Date.now()}\n` });
    await build(await worker('explainer-a'), dir, ['explain/app:1']);
    await writeFile(path.join(dir, 'notes.txt'), `v2 ${Date.now()}\n`);
    const other = await build(await worker('explainer-b'), dir, ['explain/app:1']);
    const copy = of(other.events, 'step.start').find((e) => e.name.includes('COPY notes.txt'));
    assert.equal(copy?.reason, 'notes.txt content changed');
  });

  it('prune --shared deletes cache blobs no record names, and keeps those in use', async () => {
    const dir = await context({ Dockerfile: `FROM busybox\nRUN echo gc-${Date.now()} > /gc\n` });
    const maker = await worker('gc-maker');
    const made = await build(maker, dir);
    const digest = (await readManifestLayers(maker, made.result.manifest.digest)).at(-1)!;
    const env = { BUILDER_CACHE_REPO: cacheRepo, BUILDER_REDIS_URL: redis.url, BUILDER_GC_GRACE: '0s' };
    const root = path.join(work, 'gc-root');
    const kept = expectSuccess(await runCli(['prune', '--shared', '--force'], { root, env }), 'prune --shared');
    assert.doesNotMatch(kept.stdout, new RegExp(digest), 'a referenced blob stays');
    const all = expectSuccess(await runCli(['prune', '--shared', '--all', '--force'], { root, env }), 'prune --shared --all');
    assert.match(all.stdout, new RegExp(`deleted: ${digest}`));
    const head = await fetch(`http://${cacheRepo.replace('/', '/v2/')}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
    const refused = await runCli(['prune', '--shared'], { root, env });
    assert.match(refused.stderr, /confirm with --force/);
  });

  it('cache failures only warn: a blob gone from the cache registry, a blob with wrong bytes, Redis down, the registry down', async () => {
    const dockerfile = (tag: string): string => `FROM busybox\nRUN echo ${tag} > /made\nRUN cat /made\n`;
    // A record whose blob was deleted: the step runs again and the record is repaired.
    const gone = await context({ Dockerfile: dockerfile(`gone-${Date.now()}`) });
    const first = await build(await worker('maker'), gone);
    const layerDigest = (await readManifestLayers(engines.at(-1)!, first.result.manifest.digest)).at(-1)!;
    await rm(registryBlobPath(registry.storageDir, layerDigest), { force: true });
    const repaired = await build(await worker('after-delete'), gone);
    assert.ok(of(repaired.events, 'warning').some((w) => w.message.includes('gone from')), JSON.stringify(of(repaired.events, 'warning')));
    assert.ok(of(repaired.events, 'step.start').some((e) => e.name.includes('RUN echo gone-')), 'the step ran again');
    // The re-run may make the very same layer (same second, same bytes) or a new one; either way its blob is in the
    // cache registry again, so the repaired record points at something that exists.
    const repairedLayer = (await readManifestLayers(engines.at(-1)!, repaired.result.manifest.digest)).at(-1)!;
    assert.ok(await stat(registryBlobPath(registry.storageDir, repairedLayer)).then(() => true, () => false), 'the repaired layer is published again');
    const again = await build(await worker('after-repair'), gone);
    assert.equal(again.result.manifest.digest, repaired.result.manifest.digest, 'the repaired record serves the next worker');

    // A blob whose bytes do not match its digest (same size): found when its files are needed; the step runs again.
    const corrupt = await context({ Dockerfile: dockerfile(`corrupt-${Date.now()}`) });
    const made = await build(await worker('maker2'), corrupt);
    const digest = (await readManifestLayers(engines.at(-1)!, made.result.manifest.digest)).at(-1)!;
    const blobFile = registryBlobPath(registry.storageDir, digest);
    const bytes = await readFile(blobFile);
    await writeFile(blobFile, Buffer.alloc(bytes.length, 7));
    // One new step on top needs the files of the corrupt layer.
    await writeFile(path.join(corrupt, 'Dockerfile'), `${await readFile(path.join(corrupt, 'Dockerfile'), 'utf8')}RUN cat /made && echo healed\n`);
    const healed = await build(await worker('after-corrupt'), corrupt);
    assert.ok(of(healed.events, 'warning').some((w) => /does not match|could not be fetched/.test(w.message)), JSON.stringify(of(healed.events, 'warning')));
    assert.match(of(healed.events, 'step.log').map((e) => e.data).join(''), /corrupt-/, 'the step ran and its output is right');

    // The registry down: the index still answers, the layer cannot be checked: a miss, a warning, a good build.
    const regDown = await context({ Dockerfile: dockerfile(`regdown-${Date.now()}`) });
    await build(await worker('maker3'), regDown);
    const lonely = await worker('registry-down');
    await registry.stop();
    try {
      const built = await build(lonely, regDown);
      assert.ok(of(built.events, 'warning').some((w) => w.message.includes('shared cache')));
      assert.match(of(built.events, 'step.log').map((e) => e.data).join(''), /regdown-/);
    } finally {
      registry = await restartRegistry(registry);
    }

    // Redis down: every lookup misses with one warning; the build is correct.
    const redisDown = await context({ Dockerfile: dockerfile(`redisdown-${Date.now()}`) });
    const offline = await worker('redis-down');
    await redis.stop();
    const built = await build(offline, redisDown);
    assert.equal(of(built.events, 'warning').filter((w) => w.message.includes('shared cache')).length, 1, 'warned once');
    assert.match(of(built.events, 'step.log').map((e) => e.data).join(''), /redisdown-/);
    redis = await startRedis();
  });

  it('a build that pushes as it writes its image never pushes a manifest naming a broken cached layer; it repairs, then pushes', async () => {
    const dir = await context({ Dockerfile: `FROM busybox\nRUN echo early-push-${Date.now()} > /made\n` });
    const made = await build(await worker('early-maker'), dir);
    // The cache repository's copy of the RUN's layer loses its tail: still there (a mount of it succeeds), wrong size.
    const broken = registryBlobPath(registry.storageDir, (await readManifestLayers(engines.at(-1)!, made.result.manifest.digest)).at(-1)!);
    await writeFile(broken, (await readFile(broken)).subarray(0, 10));
    const target = `${registry.host}/app/early-push:1`;
    const events: BuildEvent[] = [];
    const fresh = await worker('early-pusher');
    // The push starts beside writing the image; the gone blob is found by the hit's check at the same time.
    const result = await fresh.build({
      contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [target], buildArgs: {}, noCache: false, network: 'none',
      push: { config: emptyConfig() },
    }, { onEvent: (event) => events.push(event) });
    assert.ok(of(events, 'warning').some((w) => w.message.includes('expected')), JSON.stringify(of(events, 'warning')));
    assert.ok(of(events, 'step.start').some((e) => e.name.includes('RUN echo early-push-')), 'the step ran again');
    assert.equal(result.pushed?.length, 1);
    assert.equal(result.pushed![0]!.digest, result.manifest.digest, 'what was pushed is what was tagged');
    // Only the repaired manifest ever reached the repository (docker-registry keeps one revision per manifest PUT).
    const revisions = await readdir(path.join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', 'app', 'early-push', '_manifests', 'revisions', 'sha256'));
    assert.deepEqual(revisions, [result.manifest.digest.slice('sha256:'.length)]);
    for (const layer of await readManifestLayers(fresh, result.manifest.digest)) {
      assert.ok(await stat(registryBlobPath(registry.storageDir, layer)).then(() => true, () => false), `pushed layer ${layer} is in the registry`);
    }
  });

  it('a pushing build takes the push\'s HEAD in the target as proof of a cached layer (the cache repository is not asked), but never a HEAD of the wrong size', async () => {
    const pushBuild = async (engine: Engine, dir: string, tag: string): Promise<Built> => {
      const events: BuildEvent[] = [];
      const result = await engine.build({
        contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [tag], buildArgs: {}, noCache: false, network: 'none',
        push: { config: emptyConfig() },
      }, { onEvent: (event) => events.push(event) });
      return { result, events };
    };
    const repositories = path.join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories');
    const cacheLink = (digest: string): string =>
      path.join(repositories, ...cacheRepo.slice(registry.host.length + 1).split('/'), '_layers', 'sha256', digest.slice('sha256:'.length), 'link');

    // Proof: the target holds the layer (another worker pushed this commit). The cache repository's link is removed,
    // so a HEAD there would 404 and repair the build: no warning and no step run show it was not asked.
    const dir = await context({ Dockerfile: `FROM busybox\nRUN echo proven-${Date.now()} > /made\n` });
    const tag = `${registry.host}/app/proven:1`;
    const made = await pushBuild(await worker('proof-maker'), dir, tag);
    const layer = (await readManifestLayers(engines.at(-1)!, made.result.manifest.digest)).at(-1)!;
    await rm(cacheLink(layer));
    const fresh = await pushBuild(await worker('proof-fresh'), dir, tag);
    assert.deepEqual(of(fresh.events, 'warning'), []);
    assert.ok(!of(fresh.events, 'step.start').some((e) => e.name.includes('RUN echo proven-')), 'the RUN was cached');
    assert.equal(fresh.result.manifest.digest, made.result.manifest.digest);
    assert.equal(fresh.result.pushed?.[0]?.digest, made.result.manifest.digest);

    // No proof: the target holds the layer with the wrong size (its bytes lost their tail). The push's HEAD says
    // "exists", but not with the recorded size: the cache is asked, the record is dropped, the step runs again, and
    // the only manifests the repository ever kept are the maker's and the repaired one. The farm's fact that the
    // maker pushed this manifest there is removed first (a tag pushed by another tool has none): a fact, like a warm
    // worker's blob-sources.json, trusts what the registry held when it accepted the manifest, and would skip the HEAD.
    const dir2 = await context({ Dockerfile: `FROM busybox\nRUN echo short-${Date.now()} > /made\n` });
    const tag2 = `${registry.host}/app/short:1`;
    const made2 = await pushBuild(await worker('short-maker'), dir2, tag2);
    const layer2 = (await readManifestLayers(engines.at(-1)!, made2.result.manifest.digest)).at(-1)!;
    const blob = registryBlobPath(registry.storageDir, layer2);
    await writeFile(blob, (await readFile(blob)).subarray(0, 10));
    await dropPushFacts();
    const repaired = await pushBuild(await worker('short-fresh'), dir2, tag2);
    assert.ok(of(repaired.events, 'warning').some((w) => w.message.includes('expected')), JSON.stringify(of(repaired.events, 'warning')));
    assert.ok(of(repaired.events, 'step.start').some((e) => e.name.includes('RUN echo short-')), 'the step ran again');
    assert.equal(repaired.result.pushed?.[0]?.digest, repaired.result.manifest.digest);
    // (The rebuilt layer is byte-for-byte the maker's, so both builds may make one manifest.)
    const revisions = await readdir(path.join(repositories, 'app', 'short', '_manifests', 'revisions', 'sha256'));
    const expected = [...new Set([made2.result.manifest.digest, repaired.result.manifest.digest])].map((d) => d.slice('sha256:'.length));
    assert.deepEqual(revisions.sort(), expected.sort());
  });

  it('farm push facts: a fresh worker PUTs a manifest the farm pushed without asking for a blob; a stale, wrong or corrupt fact falls back to the HEADs and the image is whole', async () => {
    const traced = async (engine: Engine, tag: string) => {
      const events: BuildEvent[] = [];
      const tracer = new Tracer();
      const result = await engine.build({
        contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [tag], buildArgs: {}, noCache: false, network: 'none',
        push: { config: emptyConfig() },
      }, { onEvent: (event) => events.push(event), tracer });
      const spans = tracer.finish().map((span) => span.name);
      return { result, events, blobRequests: spans.filter((name) => name === 'push layer' || name === 'push config').length, puts: spans.filter((name) => name === 'manifest PUT').length };
    };
    const dir = await context({ Dockerfile: `FROM busybox\nRUN echo facts-${Date.now()} > /f\nCOPY Dockerfile /d\n` });
    const repo = 'app/facts';
    const tag = `${registry.host}/${repo}:1`;
    const made = await traced(await worker('facts-maker'), tag);
    const digest = made.result.manifest.digest;
    assert.ok(made.blobRequests > 0, 'the maker asked for its blobs');

    // The fact the maker's push left in the index: the fresh worker's push is its manifest PUT alone.
    const fresh = await traced(await worker('facts-fresh'), tag);
    assert.deepEqual(of(fresh.events, 'warning'), []);
    assert.equal(fresh.result.pushed?.[0]?.digest, digest);
    assert.deepEqual([fresh.blobRequests, fresh.puts], [0, 1], 'no blob HEAD, one manifest PUT');

    // Stale: a cached layer left the target since. The PUT is refused, the push asks for every blob, mounts the
    // missing one from the cache repository and PUTs again.
    const layers = await readManifestLayers(engines.at(-1)!, digest);
    await rm(path.join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', ...repo.split('/'), '_layers', 'sha256', layers.at(-1)!.slice('sha256:'.length), 'link'));
    const stale = await traced(await worker('facts-stale'), tag);
    assert.deepEqual(of(stale.events, 'warning'), []);
    assert.equal(stale.result.pushed?.[0]?.digest, digest);
    assert.equal(stale.result.pushed?.[0]?.blobs?.[layers.at(-1)!], 'mounted');
    assert.equal(stale.puts, 2);
    assert.deepEqual(await validateRegistryImage(registry.host, repo, '1'), []);

    // Wrong: a fact naming a repository that never had the image; then one that is not a digest at all (warned).
    const { Redis } = await import('ioredis');
    const client = new Redis(redis.url);
    try {
      const hash = `builder:cache:${cacheRepo}:held:${made.result.finalKey}`;
      await client.hset(hash, `${registry.host}/app/never`, digest);
      const never = await traced(await worker('facts-never'), `${registry.host}/app/never:1`);
      assert.equal(never.result.pushed?.[0]?.digest, digest);
      assert.equal(never.puts, 2);
      assert.deepEqual(await validateRegistryImage(registry.host, 'app/never', '1'), []);
      await client.hset(hash, 'garbage', 'not a digest');
      const corrupt = await traced(await worker('facts-corrupt'), tag);
      assert.ok(of(corrupt.events, 'warning').some((w) => w.message.includes('push facts')), JSON.stringify(of(corrupt.events, 'warning')));
      assert.equal(corrupt.result.pushed?.[0]?.digest, digest);
      assert.deepEqual([corrupt.blobRequests > 0, corrupt.puts], [true, 1], 'an unreadable fact is no fact: the push asked for its blobs');
    } finally {
      client.disconnect();
    }
  });

  /** The registry helper's restart keeps port and storage; stop() removed them, so start a new one and point the cache at it. */
  async function restartRegistry(old: RegistryServer): Promise<RegistryServer> {
    void old;
    const fresh = await startRegistry();
    cacheRepo = `${fresh.host}/farm/cache`;
    return fresh;
  }

  /** Removes the farm's push facts (cache/shared-held.ts) from the index, as if no worker had recorded a push. */
  async function dropPushFacts(): Promise<void> {
    const { Redis } = await import('ioredis');
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys(`builder:cache:${cacheRepo}:held:*`);
      if (keys.length > 0) await client.del(...keys);
    } finally {
      client.disconnect();
    }
  }

  async function readManifestLayers(engine: Engine, digest: string): Promise<string[]> {
    // A pushed build's local save may still be under way (solver/export-image.ts).
    await engine.idle();
    const manifest = JSON.parse((await engine.store.readBlob(digest)).toString()) as { layers: { digest: string }[] };
    return manifest.layers.map((l) => l.digest);
  }

  it('single-flight across processes: the same new step on two workers at once runs once; a SIGKILLed holder is taken over', async () => {
    const env = (name: string): Record<string, string> => ({
      BUILDER_CACHE_REPO: cacheRepo, BUILDER_CACHE_REDIS: redis.url, BUILDER_WORKER_NAME: name, BUILDER_CACHE_LEASE_MS: '1500',
    });
    const dir = await context({ Dockerfile: `FROM busybox\nRUN sleep 2 && echo once-${Date.now()} > /out\nRUN cat /out\n` });
    const [rootA, rootB] = await Promise.all([makeFixtureRoot('sf-a', work), makeFixtureRoot('sf-b', work)]);
    const [a, b] = await Promise.all([
      runCli(['build', '--progress=plain', '--network=none', dir], { root: rootA, env: env('cli-a') }),
      runCli(['build', '--progress=plain', '--network=none', dir], { root: rootB, env: env('cli-b') }),
    ]);
    expectSuccess(a, 'worker a');
    expectSuccess(b, 'worker b');
    const outcomes = [a, b].map((r) => stepOutcome(r.stderr, 'RUN sleep 2'));
    assert.deepEqual(outcomes.map((o) => o.split(' ')[0]).sort(), ['CACHED', 'DONE'], `the RUN ran on one worker only:\n${a.stderr}\n---\n${b.stderr}`);
    assert.ok(outcomes.some((o) => /^CACHED \(built by cli-[ab]\)$/.test(o)), `the waiter says who built it: ${outcomes.join(' | ')}`);
    assert.equal(a.stdout.trim().split('\n').pop(), b.stdout.trim().split('\n').pop(), 'same image');

    // The holder is killed mid-step: its lease expires and the waiter runs the step itself.
    const slow = await context({ Dockerfile: `FROM busybox\nRUN sleep 6 && echo slow-${Date.now()}\n` });
    const [rootC, rootD] = await Promise.all([makeFixtureRoot('sf-c', work), makeFixtureRoot('sf-d', work)]);
    const holder = spawn(process.execPath, [cliMain, 'build', '--progress=plain', '--network=none', slow], {
      env: { ...process.env, ...env('holder'), BUILDER_ROOT: rootC }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let holderOutput = '';
    holder.stderr!.on('data', (chunk: Buffer) => (holderOutput += chunk.toString()));
    await until(() => holderOutput.includes('RUN sleep 6'), 30_000);
    const waiting = runCli(['build', '--progress=plain', '--network=none', slow], { root: rootD, env: env('taker') });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    holder.kill('SIGKILL');
    const taken = expectSuccess(await waiting, 'the waiter');
    assert.match(taken.stderr, /slow-/, 'the waiter ran the step itself');
    // What the killed holder left (its overlay mount, runc bundle) is reaped by the next prune of its store.
    const mountsUnder = async (root: string): Promise<number> => (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter((line) => line.includes(`${root}/`)).length;
    assert.ok(await mountsUnder(rootC) >= 1, 'the killed build left its overlay mount');
    expectSuccess(await runCli(['prune', '-f'], { root: rootC }), 'prune after the kill');
    assert.equal(await mountsUnder(rootC), 0, 'no mount of the killed build is left');
  });

  it('a fresh worker\'s pushing build remembers both where its cached layers live and that the target now holds them', async () => {
    const dir = await context({ Dockerfile: `FROM busybox\nRUN echo sources-${Date.now()} > /s\nRUN echo two > /t\n` });
    const target = `${registry.host}/app/sources:1`;
    const pushBuild = (engine: Engine) => engine.build({
      contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [target], buildArgs: {}, noCache: false, network: 'none',
      push: { config: emptyConfig() },
    });
    // Another worker built and pushed this commit, as a farm does; the fresh worker's push then finds every blob.
    await pushBuild(await worker('sources-maker'));
    const fresh = await worker('sources-pusher');
    // The build records its hits' sources (the cache repository) while its push records the target's: at once.
    const result = await pushBuild(fresh);
    // Its cached layers' sources are written by its local save, after the push (the target's by the push itself).
    await result.saved;
    const table = JSON.parse(await readFile(path.join(fresh.store.root, 'registry', 'blob-sources.json'), 'utf8')) as Record<string, string[]>;
    const layers = (await readManifestLayers(fresh, result.manifest.digest)).slice(-2);
    for (const layer of layers) {
      assert.ok(table[layer]?.includes(cacheRepo), `${layer}: ${JSON.stringify(table[layer])} names the cache repository`);
      assert.ok(table[layer]?.includes(`${registry.host}/app/sources`), `${layer}: ${JSON.stringify(table[layer])} names the target`);
    }
  });
});

/** `DONE 2.1s` or `CACHED (built by …)` for the progress step whose name contains `name`. */
function stepOutcome(stderr: string, name: string): string {
  const lines = stderr.split('\n');
  const id = lines.find((l) => l.includes(`] ${name}`))?.split(' ')[0];
  const line = lines.find((l) => id !== undefined && (l.startsWith(`${id} DONE`) || l.startsWith(`${id} CACHED`)));
  return line ? line.slice(id!.length + 1) : 'none';
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
