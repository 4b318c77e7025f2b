/**
 * Container networking and the build network (`npm run bench`, section `network`), on real netns, veth,
 * iptables and aardvark-dns through netavark. Stores live on the bench scratch fs; nothing leaves the host
 * (internal networks, RUN steps that only run `true`).
 * - attach/detach of one container on a user network whose bridge is already up (the steady state)
 * - attach with a published port on 127.0.0.1; the detach that deletes the bridge (last container)
 * - one RUN on the host network vs on the isolated build network (farm default): the per-RUN overhead
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupBuildNetwork } from '../../builder/network/build-network.js';
import { createNetwork, openNetworking } from '../../builder/network/index.js';
import { build } from '../../builder/solver/solve.js';
import { Store } from '../../builder/store/store.js';
import { loadBusyboxFixture } from '../../test/helpers/busybox-fixture.js';
import { formatDuration, median } from './report.js';

const SAMPLES = 10;

export interface NetworkBenchEnv {
  scratchDir: string;
  log(line: string): void;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export async function runNetworkBench(env: NetworkBenchEnv): Promise<string> {
  const root = join(env.scratchDir, `network-bench-${randomBytes(4).toString('hex')}`);
  await mkdir(root, { recursive: true });
  const net = openNetworking(root);
  const attach = (containerId: string, network: string, publish: boolean): ReturnType<typeof net.attach> => net.attach({
    containerId, name: containerId.slice(0, 12), hostname: 'bench', endpoints: [{ network, aliases: [] }],
    ports: publish ? [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }] : [],
  });
  const rows: [string, number][] = [];
  try {
    env.log('network: attach/detach');
    await createNetwork(root, { name: 'bench', internal: true });
    await createNetwork(root, { name: 'published' });
    const keep = randomBytes(32).toString('hex');
    await attach(keep, 'bench', false);
    const attachMs: number[] = [];
    const detachMs: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const id = randomBytes(32).toString('hex');
      attachMs.push(await timed(() => attach(id, 'bench', false)));
      detachMs.push(await timed(() => net.detach(id)));
    }
    await net.detach(keep);
    const publishMs: number[] = [];
    const lastMs: number[] = [];
    for (let i = 0; i < SAMPLES / 2; i++) {
      const id = randomBytes(32).toString('hex');
      publishMs.push(await timed(() => attach(id, 'published', true)));
      lastMs.push(await timed(() => net.detach(id)));
    }
    rows.push(['attach, user network (bridge up)', median(attachMs)], ['detach (bridge stays)', median(detachMs)],
      ['attach with -p 127.0.0.1::80 (bridge created)', median(publishMs)], ['detach of the last container (bridge deleted)', median(lastMs)]);

    env.log('network: RUN on host vs isolated');
    await loadBusyboxFixture(root, env.scratchDir);
    const store = await Store.open(root);
    const context = join(root, 'ctx');
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), 'FROM busybox\nRUN true\n');
    const runOnce = (network: 'host' | 'isolated'): Promise<unknown> => build(store, {
      contextDir: context, dockerfilePath: join(context, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [], buildArgs: {},
      noCache: true, network, allowHostNetwork: false, networkPolicy: { allowCidrs: [], denyCidrs: [] }, onEvent: () => undefined,
    });
    await runOnce('isolated'); // installs the firewall chains and the bridge holder once, as a worker's first RUN
    const hostMs: number[] = [];
    const isolatedMs: number[] = [];
    for (let i = 0; i < SAMPLES / 2; i++) {
      hostMs.push(await timed(() => runOnce('host')));
      isolatedMs.push(await timed(() => runOnce('isolated')));
    }
    rows.push(['build with one RUN, host network', median(hostMs)], ['build with one RUN, isolated build network', median(isolatedMs)]);
  } finally {
    await cleanupBuildNetwork(root).catch(() => undefined);
  }
  const table = ['| networking (netavark 1.4) | median |', '| --- | --- |', ...rows.map(([label, ms]) => `| ${label} | ${formatDuration(ms)} |`)];
  return ['## Networks (builder/network)', '', 'netavark + aardvark-dns on real netns/veth/iptables; medians of 5–10 samples.', '', ...table].join('\n');
}
