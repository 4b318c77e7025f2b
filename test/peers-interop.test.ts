/**
 * The whole chain with real peers, both ways, loopback only: Dockerfile → image → registry → container.
 *
 * Ours → peers: one image whose layers hold what tars get wrong (setuid mode and a non-root owner, a file
 * capability as SCHILY.xattr, a symlink, a hardlink, a file and a directory deleted in a later layer, an opaque
 * directory, an empty directory, a >100-byte path in PAX) is pushed to a docker-registry and read back by skopeo +
 * umoci, podman (pull, run, image mount), buildah (from, mount) and dockerd 20.10 (pull, run, its overlay2 dirs),
 * and saved/output as archives that docker, podman and skopeo load.
 * Peers → ours: buildah builds the same steps (per-step layers), podman pushes them (OCI gzip, Docker v2s2, zstd
 * through skopeo) and saves them (oci-archive, docker-archive, oci-dir); buildah makes a two-platform index;
 * dockerd makes layers with its own overlay2 differ (run + commit). builder loads or pulls each, runs it and
 * builds FROM it.
 *
 * podman and buildah work in a private store (never the machine's containers-storage) with a private
 * containers.conf (runc, cgroupfs, ulimits within this machine's hard limits) and a registries.conf with no search
 * registries, so no short name is ever looked up outside.
 */
import { strict as assert } from 'node:assert';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeBusyboxArchive } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand, type CliResult } from './helpers/cli.js';
import { DOCKER, dockerReachable } from './helpers/docker-oracle-engine.js';
import { OCI, DOCKER as DOCKER_TYPES, validateArchive, validateRegistryImage } from './helpers/oci-validate.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';
import { PRIVATE_PODMAN_CONF } from '../scripts/bench-lib/podman-conf.js';

const ID = randomUUID().slice(0, 8);
const LONG = 'l'.repeat(120);
const NONDISTRIBUTABLE = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
/** cap_net_raw=ep as the kernel stores it (VFS_CAP_REVISION_2, 20 bytes). */
const CAP_NET_RAW = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, ...new Array<number>(12).fill(0)]);

/** The steps both sides build: the base has /cap-file with a file capability; `touch` copies it up, xattr and all. */
const STEPS = `RUN touch /cap-file && mkdir -p /data/keep /data/gone /opq/sub /empty && echo a > /data/gone/x && echo k > /data/keep/k \\
 && echo old > /opq/old && echo old > /opq/sub/s && echo m > /mode && chown 1000:1000 /mode && chmod 4750 /mode \\
 && ln -s /mode /sym && echo h > /hard1 && ln /hard1 /hard2 && mkdir -p /long/${LONG} && echo deep > /long/${LONG}/${LONG}.txt \\
 && echo gone > /gonefile
RUN rm -rf /data/gone /opq /gonefile && mkdir /opq && echo new > /opq/new
USER 1000:1000
WORKDIR /work
ENV A=1 B="two words"
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
`;

/** Run as the image's command (its entrypoint is `sh -c`): what every runtime must show. */
const CHECK = 'pwd; cd / && stat -c "%n %a %u:%g %h" mode hard1 hard2 && [ "$(stat -c %i hard1)" = "$(stat -c %i hard2)" ] && echo hardlinked; '
  + 'readlink sym; ls -A data empty opq; ls /gonefile /data/gone /opq/old 2>&1 | wc -l; cat long/*/*.txt; id -u; id -g; echo "$A|$B"';
const CHECKED = [
  '/work', 'mode 4750 1000:1000 1', 'hard1 644 0:0 2', 'hard2 644 0:0 2', 'hardlinked', '/mode',
  'data:', 'keep', '', 'empty:', '', 'opq:', 'new', '3', 'deep', '1000', '1000', '1|two words', '',
].join('\n');


const have = (tool: string): boolean => existsSync(`/usr/bin/${tool}`) || existsSync(`/usr/sbin/${tool}`);

function skipWithout(context: Mocha.Context, tool: string, up = have(tool)): void {
  if (up) return;
  console.log(`      skipped: ${tool} is not ${have(tool) ? 'running' : 'installed'}`);
  context.skip();
}

/** The file capability of `file` as getcap prints it ('' when none). */
async function capabilityOf(file: string): Promise<string> {
  const result = expectSuccess(await runCommand('getcap', [file]), `getcap ${file}`);
  return result.stdout.trim().split(/\s+/).slice(1).join(' ');
}

/** Checks an unpacked rootfs on the host: what CHECK sees inside, plus the xattr no container shell can read. */
async function checkTree(rootfs: string, who: string): Promise<void> {
  const at = (rel: string) => path.join(rootfs, rel);
  const mode = lstatSync(at('mode'));
  assert.deepEqual([mode.mode & 0o7777, mode.uid, mode.gid], [0o4750, 1000, 1000], `${who}: /mode`);
  const [one, two] = [lstatSync(at('hard1')), lstatSync(at('hard2'))];
  assert.ok(one.ino === two.ino && one.nlink === 2, `${who}: /hard1 and /hard2 are one inode`);
  assert.equal(readlinkSync(at('sym')), '/mode', `${who}: /sym`);
  assert.deepEqual(readdirSync(at('data')), ['keep'], `${who}: /data/gone is deleted`);
  assert.deepEqual(readdirSync(at('opq')), ['new'], `${who}: /opq is opaque`);
  assert.deepEqual(readdirSync(at('empty')), [], `${who}: /empty`);
  assert.ok(!existsSync(at('gonefile')), `${who}: /gonefile is deleted`);
  assert.equal(await readFile(at(`long/${LONG}/${LONG}.txt`), 'utf8'), 'deep\n', `${who}: long name`);
  assert.equal(await capabilityOf(at('cap-file')), 'cap_net_raw=ep', `${who}: /cap-file's security.capability`);
}

describe('peers interop: our images in skopeo/umoci/podman/buildah/docker, theirs in builder', function () {
  this.timeout(120_000);
  let work = '';
  let root = '';
  let registry: RegistryServer;
  let ours = '';
  let ourDigest = '';
  let dockerUp = false;
  const dockerTags: string[] = [];
  const podmanBase: string[] = [];
  let podmanEnv: Record<string, string> = {};

  const podman = (args: string[]): Promise<CliResult> => runCommand('podman', [...podmanBase, ...args], { env: podmanEnv });
  const buildah = (args: string[]): Promise<CliResult> => runCommand('buildah', [...podmanBase, ...args], { env: podmanEnv });
  const docker = (args: string[]): Promise<CliResult> => runCommand(DOCKER, args);
  const ctx = async (name: string, dockerfile: string): Promise<string> => {
    const dir = path.join(work, `ctx-${name}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    return dir;
  };
  const freshRoot = (name: string): string => path.join(work, `root-${name}`);
  const runChecked = async (image: string, storeRoot: string, who: string): Promise<void> => {
    const run = expectSuccess(await runCli(['run', '--rm', '--network', 'none', image, CHECK], { root: storeRoot }), `builder run ${who}`);
    assert.equal(run.stdout, CHECKED, who);
  };

  before(async function () {
    const missing = ['skopeo', 'umoci', 'getcap'].filter((tool) => !have(tool));
    if (missing.length > 0 || process.getuid?.() !== 0) {
      console.log(`      skipped: needs root and skopeo, umoci, getcap (missing: ${missing.join(', ') || 'root'})`);
      this.skip();
    }
    work = await makeTempDir('peers-interop');
    root = path.join(work, 'root');
    registry = await startRegistry();
    dockerUp = await dockerReachable();
    // The base: the busybox fixture plus /cap-file carrying a file capability (a PAX SCHILY.xattr record).
    const capFile = { name: 'cap-file', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 8, pax: { 'SCHILY.xattr.security.capability': CAP_NET_RAW.toString('latin1') } };
    const base = await makeBusyboxArchive(work, `capbase-${ID}:1`, [{ header: capFile, body: Buffer.from('capdata\n') }]);
    expectSuccess(await runCli(['load', '-i', base], { root }), 'builder load base');
    ours = `${registry.host}/interop-${ID}/ours:1`;
    const built = expectSuccess(await runCli(['build', '--progress=plain', '-t', ours, await ctx('ours', `FROM capbase-${ID}:1\n${STEPS}`)], { root }), 'builder build');
    ourDigest = built.stdout.trim().split('\n').pop() ?? '';
    expectSuccess(await runCli(['push', ours], { root }), 'builder push');
    if (have('podman') && have('buildah')) {
      await writeFile(path.join(work, 'containers.conf'), PRIVATE_PODMAN_CONF);
      await writeFile(path.join(work, 'registries.conf'), 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
      podmanEnv = { CONTAINERS_CONF: path.join(work, 'containers.conf'), CONTAINERS_REGISTRIES_CONF: path.join(work, 'registries.conf') };
      podmanBase.push('--root', path.join(work, 'podman', 'root'), '--runroot', path.join(work, 'podman', 'run'), '--storage-driver', 'overlay');
      expectSuccess(await podman(['load', '-q', '-i', base]), 'podman load base');
    }
  });

  after(async function () {
    for (const tag of dockerTags) await docker(['rmi', '-f', tag]);
    if (podmanBase.length > 0) {
      await buildah(['rm', '--all']);
      await podman(['rm', '--all', '--force']);
      await podman(['rmi', '--all', '--force']);
    }
    await registry?.stop();
    if (work) {
      // podman's overlay mounts under its private root must go before the directory can.
      await runCommand('umount', ['-R', path.join(work, 'podman', 'root', 'overlay')]);
      await removeTempDir(work);
    }
  });

  describe('ours → peers', function () {
    it('skopeo reads the pushed OCI manifest; skopeo copy + umoci unpack give the tree and the runtime config', async function () {
      const raw = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ours}`]), 'skopeo inspect --raw').stdout) as { mediaType: string; layers: { mediaType: string }[] };
      assert.equal(raw.mediaType, OCI.manifest);
      assert.ok(raw.layers.every((layer) => layer.mediaType === OCI.layers[1]), JSON.stringify(raw.layers));
      assert.deepEqual(await validateRegistryImage(registry.host, `interop-${ID}/ours`, '1'), []);
      const layout = path.join(work, 'umoci-layout');
      expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ours}`, `oci:${layout}:ours`]), 'skopeo copy');
      const bundle = path.join(work, 'umoci-bundle');
      expectSuccess(await runCommand('umoci', ['unpack', '--image', `${layout}:ours`, bundle]), 'umoci unpack');
      await checkTree(path.join(bundle, 'rootfs'), 'umoci');
      const runtime = JSON.parse(await readFile(path.join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } } };
      assert.deepEqual(runtime.process.args, ['/bin/sh', '-c', 'echo hi']);
      assert.ok(runtime.process.env.includes('A=1') && runtime.process.env.includes('B=two words'), JSON.stringify(runtime.process.env));
      assert.equal(runtime.process.cwd, '/work');
      assert.deepEqual([runtime.process.user.uid, runtime.process.user.gid], [1000, 1000]);
    });

    it('podman pulls it from the loopback registry, runs it (--network none) and mounts it', async function () {
      skipWithout(this, 'podman');
      expectSuccess(await podman(['pull', '-q', '--tls-verify=false', ours]), 'podman pull');
      const run = expectSuccess(await podman(['run', '--rm', '--pull=never', '--network', 'none', ours, CHECK]), 'podman run');
      assert.equal(run.stdout, CHECKED);
      const mounted = expectSuccess(await podman(['image', 'mount', ours]), 'podman image mount').stdout.trim();
      try {
        await checkTree(mounted, 'podman');
      } finally {
        await podman(['image', 'unmount', ours]);
      }
    });

    it('buildah from pulls it and sees the tree and the config', async function () {
      skipWithout(this, 'buildah');
      const container = expectSuccess(await buildah(['from', '-q', '--pull=always', '--tls-verify=false', ours]), 'buildah from').stdout.trim();
      const mounted = expectSuccess(await buildah(['mount', container]), 'buildah mount').stdout.trim();
      await checkTree(mounted, 'buildah');
      const inspected = JSON.parse(expectSuccess(await buildah(['inspect', container]), 'buildah inspect').stdout) as { OCIv1: { config: { User: string; WorkingDir: string; Entrypoint: string[]; Cmd: string[] } } };
      const { User, WorkingDir, Entrypoint, Cmd } = inspected.OCIv1.config;
      assert.deepEqual([User, WorkingDir, Entrypoint, Cmd], ['1000:1000', '/work', ['/bin/sh', '-c'], ['echo hi']]);
      await buildah(['rm', container]);
    });

    it('dockerd 20.10 pulls it (127.0.0.0/8 is an insecure registry by default), runs it, keeps the capability', async function () {
      skipWithout(this, 'dockerd', dockerUp);
      dockerTags.push(ours);
      expectSuccess(await docker(['pull', '-q', ours]), 'docker pull');
      const run = expectSuccess(await docker(['run', '--rm', '--network', 'none', ours, CHECK]), 'docker run');
      assert.equal(run.stdout, CHECKED);
      const dirs = expectSuccess(await docker(['image', 'inspect', '-f', '{{.GraphDriver.Data.UpperDir}}:{{.GraphDriver.Data.LowerDir}}', ours]), 'docker image inspect').stdout.trim().split(':');
      const capLayer = dirs.find((dir) => existsSync(path.join(dir, 'cap-file')));
      assert.ok(capLayer, `no layer dir of ${ours} holds /cap-file`);
      assert.equal(await capabilityOf(path.join(capLayer, 'cap-file')), 'cap_net_raw=ep');
    });

    it('builder save: docker, podman and skopeo load both archive formats', async function () {
      for (const format of ['oci', 'docker'] as const) {
        const tag = `${registry.host}/interop-${ID}/saved-${format}:1`;
        expectSuccess(await runCli(['tag', ours, tag], { root }), 'builder tag');
        const archive = path.join(work, `saved-${format}.tar`);
        expectSuccess(await runCli(['save', '--format', format, '-o', archive, tag], { root }), `builder save --format ${format}`);
        assert.deepEqual(await validateArchive(archive, work), []);
        const inspected = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', `docker-archive:${archive}`]), 'skopeo inspect docker-archive').stdout) as { Layers: string[]; Env: string[] };
        assert.equal(inspected.Layers.length, 4, 'the base, two RUNs, WORKDIR');
        assert.ok(inspected.Env.includes('B=two words'));
        if (format === 'oci') {
          const oci = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', `oci-archive:${archive}`]), 'skopeo inspect oci-archive').stdout) as { Digest: string };
          assert.equal(oci.Digest, ourDigest);
        }
        if (podmanBase.length > 0) {
          assert.match(expectSuccess(await podman(['load', '-i', archive]), 'podman load').stdout, new RegExp(`Loaded image: ${tag.replace(/[.:/]/g, '\\$&')}`));
          assert.equal(expectSuccess(await podman(['run', '--rm', '--pull=never', '--network', 'none', tag, CHECK]), 'podman run').stdout, CHECKED);
        }
        if (dockerUp) {
          dockerTags.push(tag);
          assert.match(expectSuccess(await docker(['load', '-i', archive]), 'docker load').stdout, /Loaded image/);
          assert.equal(expectSuccess(await docker(['run', '--rm', '--network', 'none', tag, CHECK]), 'docker run').stdout, CHECKED);
        }
      }
    });

    it('--output type=oci: skopeo reads the archive; untagged, it names no image (no "sha256:<hex>" tag); umoci unpacks a tagged one', async function () {
      const dir = path.join(work, 'ctx-ours');
      const untagged = path.join(work, 'out-untagged.tar');
      expectSuccess(await runCli(['build', '--progress=plain', '--output', `type=oci,dest=${untagged}`, dir], { root }), 'build --output type=oci');
      const inspected = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', `oci-archive:${untagged}`]), 'skopeo inspect oci-archive').stdout) as { Digest: string };
      assert.equal(inspected.Digest, ourDigest, 'the same build gives the same manifest');
      const extracted = path.join(work, 'out-untagged');
      await mkdir(extracted);
      expectSuccess(await runCommand('tar', ['-xf', untagged, '-C', extracted]), 'untar');
      const index = JSON.parse(await readFile(path.join(extracted, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
      assert.deepEqual(index.manifests.map((m) => m.annotations), [undefined], 'BuildKit names no image without a name');
      const dockerManifest = JSON.parse(await readFile(path.join(extracted, 'manifest.json'), 'utf8')) as { RepoTags: string[] }[];
      assert.deepEqual(dockerManifest.map((m) => m.RepoTags), [[]]);
      // Loaded back, it is docker's <none>:<none>: listed, and usable by its id.
      const loadedRoot = freshRoot('untagged');
      // docker's words: the id is the config digest (what `docker images` lists).
      const configDigest = (JSON.parse(await readFile(path.join(extracted, 'manifest.json'), 'utf8')) as { Config: string }[])[0]!.Config
        .replace(/^blobs\/sha256\//, 'sha256:');
      assert.match(configDigest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(expectSuccess(await runCli(['load', '-i', untagged], { root: loadedRoot }), 'builder load').stdout, `Loaded image ID: ${configDigest}\n`);
      assert.match(expectSuccess(await runCli(['images'], { root: loadedRoot }), 'builder images').stdout, new RegExp(`<none> +<none> +${configDigest.slice(7, 19)}`));
      await runChecked(ourDigest.slice(7, 19), loadedRoot, 'an untagged archive loaded');

      const tagged = path.join(work, 'out-tagged.tar');
      expectSuccess(await runCli(['build', '--progress=plain', '-t', `out-${ID}:1`, '--output', `type=oci,dest=${tagged}`, dir], { root }), 'build -t --output type=oci');
      const layout = path.join(work, 'out-tagged');
      await mkdir(layout);
      expectSuccess(await runCommand('tar', ['-xf', tagged, '-C', layout]), 'untar');
      const bundle = path.join(work, 'out-bundle');
      expectSuccess(await runCommand('umoci', ['unpack', '--image', `${layout}:out-${ID}:1`, bundle]), 'umoci unpack');
      await checkTree(path.join(bundle, 'rootfs'), 'umoci (--output type=oci)');
    });

    it('a step that writes a file name that is not UTF-8 fails with a clear error', async function () {
      const dir = await ctx('non-utf8', `FROM capbase-${ID}:1\nRUN touch "$(printf "/bad\\377name")"\n`);
      const build = await runCli(['build', '--progress=plain', dir], { root });
      assert.equal(build.code, 1, build.stderr);
      assert.match(build.stderr, /Dockerfile:2: the step wrote a file whose name is not valid UTF-8 \(\/bad\uFFFDname/);
    });
  });

  describe('peers → ours', function () {
    const theirs = `localhost/theirs-${ID}:1`;
    before(async function () {
      if (podmanBase.length === 0) return;
      const dir = await ctx('theirs', `FROM localhost/capbase-${ID}:1\n${STEPS}`);
      expectSuccess(await buildah(['bud', '-q', '--layers', '--pull=never', '--network', 'none', '--isolation', 'oci', '-t', theirs, dir]), 'buildah bud');
    });

    it('podman save (oci-archive, docker-archive, oci-dir, uncompressed oci-dir) → builder load → builder run and build FROM it', async function () {
      skipWithout(this, 'podman');
      // oci-dir --uncompressed: application/vnd.oci.image.layer.v1.tar layers.
      for (const format of ['oci-archive', 'docker-archive', 'oci-dir', 'oci-dir --uncompressed'] as const) {
        const dirFormat = format.startsWith('oci-dir');
        let archive = path.join(work, `podman-${format.replace(/ --/, '-')}${dirFormat ? '' : '.tar'}`);
        const flags = format === 'oci-dir --uncompressed' ? ['--uncompressed', '--format', 'oci-dir'] : ['--format', format];
        expectSuccess(await podman(['save', '-q', ...flags, '-o', archive, theirs]), `podman save ${flags.join(' ')}`);
        if (dirFormat) {
          expectSuccess(await runCommand('tar', ['-cf', `${archive}.tar`, '-C', archive, '.']), 'tar the oci-dir');
          archive = `${archive}.tar`;
        }
        const storeRoot = freshRoot(`podman-${format.replace(/ --/, '-')}`);
        const load = expectSuccess(await runCli(['load', '-i', archive], { root: storeRoot }), `builder load ${format}`);
        assert.match(load.stdout, new RegExp(`Loaded image: ${theirs.replace(/[.:/]/g, '\\$&')}`), format);
        // The layers were extracted at load (snapshots/); running each archive's copy again would test nothing new.
        if (!dirFormat) await runChecked(theirs, storeRoot, `podman save ${format}`);
        const caps = expectSuccess(await runCommand('getcap', ['-r', path.join(storeRoot, 'snapshots')]), 'getcap -r').stdout;
        assert.match(caps, /\/cap-file cap_net_raw=ep/, `${format}: the loaded layers keep the capability`);
        if (format === 'oci-archive') {
          const dir = await ctx('from-theirs', `FROM ${theirs}\nRUN ["sh", "-c", "cat /opq/new /data/keep/k && ! ls /opq/old /gonefile"]\n`);
          expectSuccess(await runCli(['build', '--progress=plain', dir], { root: storeRoot }), 'builder build FROM a podman image');
        }
      }
    });

    it('podman push (OCI gzip, Docker v2s2) and a zstd copy → builder pull → builder run; FROM the zstd one', async function () {
      skipWithout(this, 'podman');
      const repo = `${registry.host}/interop-${ID}/theirs`;
      expectSuccess(await podman(['push', '-q', '--tls-verify=false', theirs, `${repo}:oci`]), 'podman push');
      expectSuccess(await podman(['push', '-q', '--tls-verify=false', '--format', 'v2s2', theirs, `${repo}:v2s2`]), 'podman push v2s2');
      // podman 4.3 reuses the gzip blobs the registry already has; skopeo recompressing into a layout does not.
      const layout = path.join(work, 'zstd-layout');
      expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--dest-compress', '--dest-compress-format', 'zstd', `oci-archive:${path.join(work, 'podman-oci-archive.tar')}`, `oci:${layout}:z`]), 'skopeo copy → zstd');
      expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:z`, `docker://${repo}:zstd`]), 'skopeo copy → registry');
      const expected: Record<string, [string, string]> = {
        oci: [OCI.manifest, OCI.layers[1]!], v2s2: [DOCKER_TYPES.manifest, DOCKER_TYPES.layers[0]!], zstd: [OCI.manifest, 'application/vnd.oci.image.layer.v1.tar+zstd'],
      };
      for (const [tag, [manifestType, layerType]] of Object.entries(expected)) {
        const raw = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${repo}:${tag}`]), 'skopeo inspect').stdout) as { mediaType: string; layers: { mediaType: string }[] };
        assert.deepEqual([raw.mediaType, [...new Set(raw.layers.map((l) => l.mediaType))]], [manifestType, [layerType]], tag);
        const storeRoot = freshRoot(`pull-${tag}`);
        expectSuccess(await runCli(['pull', `${repo}:${tag}`], { root: storeRoot }), `builder pull ${tag}`);
        await runChecked(`${repo}:${tag}`, storeRoot, `pulled ${tag}`);
        if (tag === 'zstd') {
          const dir = await ctx('from-zstd', `FROM ${repo}:zstd\nRUN ["sh", "-c", "cat /opq/new > /tmp/copied"]\n`);
          expectSuccess(await runCli(['build', '--progress=plain', '--push', '-t', `${repo}:on-zstd`, dir], { root: storeRoot }), 'builder build FROM zstd');
          assert.deepEqual(await validateRegistryImage(registry.host, `interop-${ID}/theirs`, 'on-zstd'), []);
        }
      }
    });

    it('a two-platform index from buildah manifest push --all: builder pull picks the host platform, or --platform (OCI index and Docker manifest list)', async function () {
      skipWithout(this, 'buildah');
      const list = `localhost/multi-${ID}:1`;
      const arm = `localhost/multi-arm-${ID}:1`;
      const container = expectSuccess(await buildah(['from', '-q', 'scratch']), 'buildah from scratch').stdout.trim();
      await writeFile(path.join(work, 'armfile'), 'arm64\n');
      expectSuccess(await buildah(['copy', container, path.join(work, 'armfile'), '/arch']), 'buildah copy');
      expectSuccess(await buildah(['config', '--arch', 'arm64', '--os', 'linux', container]), 'buildah config');
      expectSuccess(await buildah(['commit', '-q', container, arm]), 'buildah commit');
      await buildah(['rm', container]);
      expectSuccess(await buildah(['manifest', 'create', list]), 'buildah manifest create');
      expectSuccess(await buildah(['manifest', 'add', list, `containers-storage:${theirs}`]), 'manifest add amd64');
      expectSuccess(await buildah(['manifest', 'add', '--arch', 'arm64', list, `containers-storage:${arm}`]), 'manifest add arm64');
      const ref = `${registry.host}/interop-${ID}/multi:1`;
      expectSuccess(await buildah(['manifest', 'push', '-q', '--all', '--tls-verify=false', list, `docker://${ref}`]), 'buildah manifest push --all');
      const raw = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]), 'skopeo inspect').stdout) as { mediaType: string; manifests: unknown[] };
      assert.deepEqual([raw.mediaType, raw.manifests.length], [OCI.index, 2]);

      // The same list as a Docker manifest list (v2s2 manifests).
      const listV2s2 = `${registry.host}/interop-${ID}/multi:v2s2`;
      expectSuccess(await buildah(['manifest', 'push', '-q', '--all', '--format', 'v2s2', '--tls-verify=false', list, `docker://${listV2s2}`]), 'buildah manifest push --all --format v2s2');
      const rawV2s2 = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${listV2s2}`]), 'skopeo inspect').stdout) as { mediaType: string };
      assert.equal(rawV2s2.mediaType, DOCKER_TYPES.index);

      for (const [name, image] of [['oci', ref], ['v2s2', listV2s2]] as const) {
        const storeRoot = freshRoot(`multi-${name}`);
        const arch = async (): Promise<string> => (JSON.parse(expectSuccess(await runCli(['inspect', image], { root: storeRoot }), 'inspect').stdout) as { Architecture: string }[])[0]!.Architecture;
        expectSuccess(await runCli(['pull', '--platform', 'linux/arm64', image], { root: storeRoot }), 'builder pull --platform linux/arm64');
        assert.equal(await arch(), 'arm64', name);
        expectSuccess(await runCli(['pull', image], { root: storeRoot }), 'builder pull');
        assert.equal(await arch(), 'amd64', name);
        if (name === 'oci') await runChecked(image, storeRoot, `the ${name} list's amd64 image`);
      }
    });

    it('a non-distributable layer (blob in the registry, no urls): builder pulls it, builds on it, pushes; docker and umoci read the result', async function () {
      // skopeo's layout of our image (first test) with its top layer retyped, as a vendor's base would carry it.
      const layout = path.join(work, 'umoci-layout');
      if (!existsSync(layout)) expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ours}`, `oci:${layout}:ours`]), 'skopeo copy');
      const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number; annotations?: Record<string, string> }[] };
      const blob = (digest: string) => path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
      const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'ours')!;
      const manifest = JSON.parse(await readFile(blob(entry.digest), 'utf8')) as { layers: { mediaType: string }[] };
      manifest.layers.at(-1)!.mediaType = NONDISTRIBUTABLE;
      const bytes = Buffer.from(JSON.stringify(manifest));
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      await writeFile(blob(digest), bytes);
      index.manifests.push({ ...entry, digest, size: bytes.length, annotations: { 'org.opencontainers.image.ref.name': 'nd' } });
      await writeFile(path.join(layout, 'index.json'), JSON.stringify(index));
      const base = `${registry.host}/interop-${ID}/nd:1`;
      expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:nd`, `docker://${base}`]), 'skopeo copy → registry');

      const storeRoot = freshRoot('nd');
      expectSuccess(await runCli(['pull', base], { root: storeRoot }), 'builder pull');
      await runChecked(base, storeRoot, 'non-distributable base');
      const built = `${registry.host}/interop-${ID}/on-nd:1`;
      const dir = await ctx('on-nd', `FROM ${base}\nRUN ["sh", "-c", "echo on-nd > /tmp/x"]\n`);
      expectSuccess(await runCli(['build', '--progress=plain', '--push', '-t', built, dir], { root: storeRoot }), 'builder build --push');
      const raw = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${built}`]), 'skopeo inspect').stdout) as { layers: { mediaType: string }[] };
      assert.deepEqual(raw.layers.slice(-2).map((l) => l.mediaType), [NONDISTRIBUTABLE, OCI.layers[1]], 'the base layer keeps its type, its blob is pushed');
      const unpacked = path.join(work, 'nd-layout');
      expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${built}`, `oci:${unpacked}:x`]), 'skopeo copy');
      expectSuccess(await runCommand('umoci', ['unpack', '--image', `${unpacked}:x`, path.join(work, 'nd-bundle')]), 'umoci unpack');
      assert.equal(await readFile(path.join(work, 'nd-bundle', 'rootfs', 'tmp', 'x'), 'utf8'), 'on-nd\n');
      if (dockerUp) {
        dockerTags.push(built);
        expectSuccess(await docker(['pull', '-q', built]), 'docker pull');
        assert.equal(expectSuccess(await docker(['run', '--rm', '--network', 'none', built, 'cat /tmp/x']), 'docker run').stdout, 'on-nd\n');
      }
    });

    it('dockerd 20.10: layers from its own differ (run + commit) → docker save → builder load → run; docker push → builder pull', async function () {
      skipWithout(this, 'dockerd', dockerUp);
      // Our image, pulled into dockerd by the test above or loaded here, is the base: no name outside is needed.
      if ((await docker(['image', 'inspect', ours])).code !== 0) {
        dockerTags.push(ours);
        expectSuccess(await docker(['pull', '-q', ours]), 'docker pull');
      }
      const step1 = `interop-${ID}/dstep:1`;
      const step2 = `${registry.host}/interop-${ID}/dstep:2`;
      const names = [`interop-${ID}-c1`, `interop-${ID}-c2`];
      try {
        expectSuccess(await docker(['run', '--name', names[0]!, '--network', 'none', '--user', '0', ours,
          'cd /tmp && mkdir -p d1/sub o && echo x > d1/sub/f && echo o > o/old && echo g > gone && ln -s d1 link']), 'docker run 1');
        dockerTags.push(step1);
        expectSuccess(await docker(['commit', names[0]!, step1]), 'docker commit 1');
        expectSuccess(await docker(['run', '--name', names[1]!, '--network', 'none', '--user', '0', step1,
          'cd /tmp && rm -rf d1/sub gone o && mkdir o && echo n > o/new']), 'docker run 2');
        dockerTags.push(step2);
        expectSuccess(await docker(['commit', names[1]!, step2]), 'docker commit 2');
      } finally {
        await docker(['rm', '-f', ...names]);
      }
      const probe = 'cd /tmp && find . | sort && cat o/new && readlink link && stat -c "%a %u" /mode';
      const want = ['.', './d1', './link', './o', './o/new', 'n', 'd1', '4750 1000', ''].join('\n');
      const archive = path.join(work, 'docker-save.tar');
      expectSuccess(await docker(['save', '-o', archive, step2]), 'docker save');
      const loadedRoot = freshRoot('docker-save');
      assert.match(expectSuccess(await runCli(['load', '-i', archive], { root: loadedRoot }), 'builder load').stdout, /Loaded image: /);
      const run = expectSuccess(await runCli(['run', '--rm', '--network', 'none', '--user', '0', step2, probe], { root: loadedRoot }), 'builder run');
      assert.equal(run.stdout, want);

      expectSuccess(await docker(['push', step2]), 'docker push');
      const raw = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${step2}`]), 'skopeo inspect').stdout) as { mediaType: string };
      assert.equal(raw.mediaType, DOCKER_TYPES.manifest);
      const pulledRoot = freshRoot('docker-push');
      expectSuccess(await runCli(['pull', step2], { root: pulledRoot }), 'builder pull');
      const pulled = expectSuccess(await runCli(['run', '--rm', '--network', 'none', '--user', '0', step2, probe], { root: pulledRoot }), 'builder run');
      assert.equal(pulled.stdout, want);
    });
  });
});
