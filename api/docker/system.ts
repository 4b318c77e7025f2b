/** `/_ping`, `/version`, `/info`, `/events`, and docker's clear 501 for what builder does not have (swarm, plugins, search). */
import { existsSync } from 'node:fs';
import os from 'node:os';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { API_VERSION, BUILDER_VERSION, MIN_API_VERSION, type DaemonContext } from './daemon-context.js';
import { BuildError } from '../../builder/errors.js';
import { objectBody, optString } from './body.js';
import { DockerApiError, badRequest, notSupported } from './errors.js';
import { containerService } from './containers.js';
import { streamEvents } from './events.js';
import { hostGoArch } from '../../builder/store/image-lookup.js';

const GIT_COMMIT = 'builder';

export function systemRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  const ping = async (_req: unknown, reply: FastifyReply) => {
    reply.header('Cache-Control', 'no-cache, no-store, must-revalidate').header('Pragma', 'no-cache').type('text/plain; charset=utf-8');
    return 'OK';
  };
  // fastify answers HEAD /_ping from this route too (without a body), which is what the CLI sends first.
  app.get('/_ping', ping);

  app.get('/version', async () => {
    const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: GIT_COMMIT, GoVersion: `node${process.versions.node}`, Os: 'linux', Arch: hostGoArch(), KernelVersion: os.release(), BuildTime: '' };
    return {
      Platform: { Name: 'builder' },
      Components: [{ Name: 'Engine', Version: BUILDER_VERSION, Details: details }],
      Version: BUILDER_VERSION,
      ...details,
    };
  });

  app.get('/info', async () => {
    const images = await ctx.store.listImages();
    const containers = await (await containerService(ctx)).list({ all: true }).catch(() => []);
    const count = (state: string): number => containers.filter((c) => c.State === state).length;
    return {
      ID: `builder-${os.hostname()}`,
      Containers: containers.length, ContainersRunning: count('running'), ContainersPaused: count('paused'),
      ContainersStopped: containers.length - count('running') - count('paused'),
      Images: new Set([...images.map((i) => i.manifest.digest), ...(await ctx.store.listUntagged()).map((d) => d.digest)]).size,
      Driver: 'overlay', DriverStatus: [['Backing Filesystem', 'overlayfs snapshots']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Authorization: null, Log: ['json-file'] },
      MemoryLimit: true, SwapLimit: false, CpuCfsPeriod: true, CpuCfsQuota: true, CPUShares: true, PidsLimit: true,
      IPv4Forwarding: true, Debug: false, NFd: 0, NGoroutines: 0, SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file', CgroupDriver: 'cgroupfs', CgroupVersion: cgroupVersion(), NEventsListener: 0,
      KernelVersion: os.release(), OperatingSystem: 'builder', OSVersion: '', OSType: 'linux', Architecture: os.machine(),
      IndexServerAddress: 'https://index.docker.io/v1/', RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'], Mirrors: [] },
      NCPU: os.cpus().length, MemTotal: os.totalmem(), DockerRootDir: ctx.root, Name: os.hostname(), Labels: [],
      ExperimentalBuild: false, ServerVersion: BUILDER_VERSION, Runtimes: { runc: { path: 'runc' } }, DefaultRuntime: 'runc',
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true, Isolation: '', InitBinary: '', SecurityOptions: [], Warnings: [],
      ContainerdCommit: { ID: '' }, RuncCommit: { ID: '' }, InitCommit: { ID: '' },
    };
  });

  app.get('/system/df', async () => {
    const { tagsByManifest } = await import('./image-shapes.js');
    const images: Record<string, unknown>[] = [];
    let layersSize = 0;
    for (const [manifestDigest, tags] of await tagsByManifest(ctx.store)) {
      const image = await ctx.store.resolve(manifestDigest);
      if (!image) continue;
      const { imageSummary } = await import('./image-shapes.js');
      const summary = imageSummary(image, tags);
      layersSize += Number(summary.Size);
      images.push({ ...summary, Containers: 0 });
    }
    const containers = await (await containerService(ctx)).list({ all: true }).catch(() => []);
    const { listVolumes } = await import('../../builder/volume/volume-api.js');
    const volumes = (await listVolumes(ctx.store.root).catch(() => ({ Volumes: [] }))).Volumes.map((v) => ({ ...v, UsageData: { Size: -1, RefCount: 0 } }));
    return { LayersSize: layersSize, Images: images, Containers: containers, Volumes: volumes, BuildCache: [] };
  });

  // `docker login`: the daemon proves the credentials; the CLI keeps them in its own config.
  app.post('/auth', async (request) => {
    const body = objectBody(request.body, 'auth request');
    const username = optString(body, 'username') ?? '';
    const password = optString(body, 'password') ?? optString(body, 'identitytoken') ?? '';
    const server = optString(body, 'serveraddress') ?? '';
    if (!username || !password) throw badRequest('username and password are required');
    const [{ checkCredentials }, { loadConfig }] = await Promise.all([import('../../builder/registry/login.js'), import('../../builder/config.js')]);
    try {
      await checkCredentials(server, { username, password }, await loadConfig());
    } catch (err) {
      if (err instanceof BuildError && err.code === 'REGISTRY_AUTH') throw new DockerApiError(401, `login attempt to ${server || 'docker.io'} failed with status: 401 Unauthorized`);
      throw err;
    }
    return { Status: 'Login Succeeded', IdentityToken: '' };
  });

  app.get('/events', (request, reply) => streamEvents(ctx, request, reply));

  // Docker's "not supported" for the parts of dockerd builder does not have.
  for (const [prefix, what] of [
    ['/swarm', 'swarm mode'], ['/nodes', 'swarm mode'], ['/services', 'swarm mode'], ['/tasks', 'swarm mode'],
    ['/secrets', 'swarm mode'], ['/configs', 'swarm mode'], ['/plugins', 'plugins'], ['/images/search', 'docker search'],
    ['/session', 'BuildKit sessions (use DOCKER_BUILDKIT=0)'], ['/grpc', 'BuildKit (use DOCKER_BUILDKIT=0)'],
    ['/distribution', 'distribution inspection'],
  ] as const) {
    app.all(prefix, async () => { throw notSupported(what); });
    app.all(`${prefix}/*`, async () => { throw notSupported(what); });
  }
}

function cgroupVersion(): string {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}
