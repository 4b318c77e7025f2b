/**
 * The farm's build network (issue 14 item 2), for real: RUN steps on the `isolated` network (the farm
 * worker's default) cannot reach a TCP listener on the host's loopback nor on the host's own
 * non-loopback address; the same RUN on the host network can (so the test can fail). Only host-local
 * addresses are ever contacted: nothing leaves the machine.
 */
import { strict as assert } from 'node:assert';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { farmConfig } from '../api/farm-config.js';
import { BuildError } from '../builder/errors.js';
import type { BuildEvent } from '../builder/events.js';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NetavarkNetworking } from '../builder/network/attach.js';
import { cleanupBuildNetwork, removeBuildFirewall, withBuildNetwork } from '../builder/network/build-network.js';
import { hostDns } from '../builder/network/etc-files.js';
import { createNetwork } from '../builder/network/index.js';
import { netavarkBinaries } from '../builder/network/netavark.js';
import { createEngine } from '../builder/engine.js';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { runCommand } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

/** The attachment record of a RUN netns (`/run/netns/builder-<id>`, builder/network/attach.ts netnsName). */
const attachmentId = (netnsPath: string): string => path.basename(netnsPath).replace(/^builder-/, '');

function hostAddress(): string | undefined {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

describe('farm build network (isolated RUN)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let counter = 0;
  let server: Server | undefined;
  let port = 0;
  let connections = 0;
  let address: string | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: needs root'); this.skip(); }
    try { await netavarkBinaries(); } catch (err) { console.log(`    skipped: ${(err as Error).message}`); this.skip(); }
    address = hostAddress();
    scratch = await makeTempDir('build-net-scratch');
    root = await makeFixtureRoot('build-net-root', scratch);
    // One listener on every host address: loopback and the machine's own address.
    server = createServer((socket) => { connections++; socket.end('secret\n'); });
    await new Promise<void>((resolve) => server!.listen(0, '0.0.0.0', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server?.close();
    if (root) await cleanupBuildNetwork(root);
    if (root) await removeTempDir(root);
    if (scratch) await removeTempDir(scratch);
  });

  async function runBuild(dockerfile: string, network: 'host' | 'isolated', allowHostNetwork = false, networkPolicy = { allowCidrs: [] as string[], denyCidrs: [] as string[] }): Promise<string> {
    const dir = path.join(scratch, `ctx-${++counter}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    let output = '';
    const onEvent = (event: BuildEvent): void => { if (event.type === 'step.log') output += event.data; };
    const engine = await createEngine({ root });
    try {
      await engine.build({
        contextDir: dir, dockerfilePath: path.join(dir, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [], buildArgs: {},
        noCache: true, network, allowHostNetwork, networkPolicy,
      }, { onEvent });
    } finally {
      await engine.close();
    }
    return output;
  }

  /** A RUN that tries each address and prints what happened, with the time it took. */
  const probe = (targets: string[]): string => `FROM busybox\nRUN ${targets.map((t) => `s=$(date +%s); if echo hi | timeout 5 nc ${t} ${port} >/dev/null 2>&1; then r=REACHED; else r=BLOCKED; fi; echo "${t} $r $(( $(date +%s) - s ))s"`).join('; ')}\n`;

  it('the farm worker defaults to the isolated network, without the network.host entitlement', () => {
    const config = farmConfig({}, {});
    assert.equal(config.worker.network, 'isolated');
    assert.equal(config.worker.allowHostNetwork, false);
    assert.equal(farmConfig({ worker: { allow_host_network: true, deny_cidrs: ['10.0.0.0/8'] } }, {}).worker.networkPolicy.denyCidrs[0], '10.0.0.0/8');
  });

  it('an isolated RUN cannot connect to the host loopback nor to the host address; a host-network RUN can', async () => {
    const targets = ['127.0.0.1', ...(address ? [address] : [])];
    const before = connections;
    // The fixture has no /etc/resolv.conf (real base images do): the first RUN makes one for the next to get.
    const isolated = await runBuild(`${probe(targets)}RUN touch /etc/resolv.conf\nRUN ip route; cat /etc/resolv.conf; hostname\n`, 'isolated');
    // The host's resolvers without loopback ones (unreachable from the netns, and refused anyway).
    for (const server of hostDns().servers) assert.match(isolated, new RegExp(`^nameserver ${server.replace(/\./g, '\\.')}$`, 'm'));
    assert.doesNotMatch(isolated, /^nameserver 127\./m);
    assert.match(isolated, /^buildkitsandbox$/m);
    // It has a network (a default route through the build bridge): what stops it is the firewall.
    assert.match(isolated, /^default via 10\.213\.\d+\.1 dev eth0/m, isolated);
    for (const target of targets) assert.match(isolated, new RegExp(`^${target.replace(/\./g, '\\.')} BLOCKED [0-2]s$`, 'm'), isolated);
    assert.equal(connections, before, 'a connection reached the host listener');
    // The control: with the host's network the same probe gets through, so the assertion above can fail.
    const host = await runBuild(probe(targets), 'host');
    for (const target of targets) assert.match(host, new RegExp(`^${target.replace(/\./g, '\\.')} REACHED`, 'm'), host);
    assert.ok(connections > before);
  });

  it('chains removed behind its back are installed again before the next RUN', async () => {
    await removeBuildFirewall(root);
    const output = await runBuild(probe(['127.0.0.1', ...(address ? [address] : [])]), 'isolated');
    assert.doesNotMatch(output, /REACHED/, output);
    assert.match((await runCommand('iptables', ['-S', 'INPUT'])).stdout, /-j BLDR-IN-/);
  });

  it('leaves no netns and no address behind after the RUN', async () => {
    const netns = await runCommand('ip', ['netns', 'list']);
    // RUN netns are builder-builder-<12 hex>; the idle bridge holder stays by design.
    assert.doesNotMatch(netns.stdout, /builder-builder-[0-9a-f]{12}\b/);
  });

  it('two RUNs on the build network cannot reach each other (isolated bridge ports)', async () => {
    const www = path.join(scratch, 'www');
    await mkdir(www, { recursive: true });
    await writeFile(path.join(www, 'index.html'), 'other build\n');
    const policy = { allowCidrs: [], denyCidrs: [] };
    await withBuildNetwork(root, policy, async (serverNetns) => {
      const name = path.basename(serverNetns);
      const httpd = spawn('ip', ['netns', 'exec', name, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' });
      try {
        const own = await runCommand('ip', ['netns', 'exec', name, 'busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1/']);
        const deadline = Date.now() + 3000;
        while (own.code !== 0 && Date.now() < deadline) Object.assign(own, await runCommand('ip', ['netns', 'exec', name, 'busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1/']));
        assert.equal(own.stdout, 'other build\n');
        const ip = (await new NetavarkNetworking(root).inspect(attachmentId(serverNetns)))!.endpoints[0]!.ipAddress;
        await withBuildNetwork(root, policy, async (clientNetns) => {
          const probe = await runCommand('ip', ['netns', 'exec', path.basename(clientNetns), 'busybox', 'timeout', '3', 'busybox', 'wget', '-q', '-O', '-', `http://${ip}/`]);
          assert.notEqual(probe.code, 0, `the other RUN answered: ${probe.stdout}`);
          // Where br_netfilter is loaded (as here) the FORWARD chain already drops this; the isolated flag on both
          // RUN ports is what holds where it is not.
          const bridge = (await new NetavarkNetworking(root).inspect(attachmentId(clientNetns)))!.endpoints[0]!.networkId;
          const ports = JSON.parse((await runCommand('ip', ['-d', '-j', 'link', 'show', 'master', `bldr-${bridge.slice(0, 10)}`])).stdout) as { ifindex: number; linkinfo?: { info_slave_data?: { isolated?: boolean } } }[];
          // The bridge also has the idle holder and the netns the pool prepares ahead: look at these two RUNs' ports.
          for (const netns of [serverNetns, clientNetns]) {
            const [eth0] = JSON.parse((await runCommand('ip', ['-n', path.basename(netns), '-j', 'link', 'show', 'eth0'])).stdout) as { link_index?: number }[];
            const port = ports.find((p) => p.ifindex === eth0?.link_index);
            assert.equal(port?.linkinfo?.info_slave_data?.isolated, true, JSON.stringify(ports.map((p) => p.linkinfo?.info_slave_data)));
          }
        });
      } finally {
        httpd.kill('SIGKILL');
      }
    });
  });

  it('deny_cidrs refuse a range, allow_cidrs make an exception (target: a container on a builder bridge)', async () => {
    // A container on a user network outside builder's pool, so only the configured policy decides.
    // Not --internal: an internal network is unreachable from other networks by design (as docker's). Only serves.
    await createNetwork(root, { name: 'target', subnet: '10.77.9.0/24' });
    const net = new NetavarkNetworking(root);
    const svc = randomBytes(32).toString('hex');
    const attachment = await net.attach({ containerId: svc, name: 'svc', hostname: 'svc', endpoints: [{ network: 'target', aliases: [] }], ports: [] });
    const www = path.join(scratch, 'www-target');
    await mkdir(www, { recursive: true });
    await writeFile(path.join(www, 'index.html'), 'target\n');
    const httpd = spawn('ip', ['netns', 'exec', path.basename(attachment.netnsPath), 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' });
    const ip = attachment.endpoints[0]!.ipAddress;
    const fetchRun = `FROM busybox\nRUN if timeout 5 wget -q -O - http://${ip}/ >/dev/null 2>&1; then echo TARGET REACHED; else echo TARGET BLOCKED; fi\n`;
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.match(await runBuild(fetchRun, 'isolated'), /TARGET REACHED/);
      assert.match(await runBuild(fetchRun, 'isolated', false, { allowCidrs: [], denyCidrs: ['10.77.9.0/24'] }), /TARGET BLOCKED/);
      assert.match(await runBuild(fetchRun, 'isolated', false, { allowCidrs: [`${ip}/32`], denyCidrs: ['10.77.0.0/16'] }), /TARGET REACHED/);
      await assert.rejects(runBuild(fetchRun, 'isolated', false, { allowCidrs: [], denyCidrs: ['10.77.9.0'] }), /not an IPv4 CIDR/);
    } finally {
      httpd.kill('SIGKILL');
      await net.detach(svc);
    }
  });

  it('RUN --network=host on the farm needs the entitlement', async () => {
    await assert.rejects(
      runBuild('FROM busybox\nRUN --network=host true\n', 'isolated'),
      (err: unknown) => err instanceof BuildError && /entitlement network\.host is not allowed/.test(err.message) && err.line === 2,
    );
    await runBuild('FROM busybox\nRUN --network=host true\n', 'isolated', true);
  });
});
