/**
 * Real netns, veth, iptables and aardvark-dns through netavark. "Containers" are busybox processes run
 * with `ip netns exec` in the netns attach made; /etc/netns/<name>/resolv.conf is how `ip netns exec`
 * gives them the rendered resolv.conf. Traffic stays on builder's bridges and the host's loopback.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runCommand } from '../../test/helpers/cli.js';
import { makeTempDir, removeTempDir } from '../../test/helpers/temp-root.js';
import { BuildError } from '../errors.js';
import { netnsName } from './attach.js';
import { readAttachments } from './attachments.js';
import { renderResolvConf } from './etc-files.js';
import { createNetwork, inspectNetwork, listNetworks, openNetworking, parsePublish } from './index.js';
import { netavarkBinaries, netavarkConfigDir } from './netavark.js';
import type { Attachment } from './types.js';

const id = (): string => randomBytes(32).toString('hex');

/** The rules that mention one of `needles` (our subnets, ports): other users of this machine's iptables change theirs meanwhile. */
async function iptablesRules(needles: string[]): Promise<string> {
  const saved = await runCommand('iptables-save', []);
  return saved.stdout.split('\n').filter((l) => l.startsWith('-A') && needles.some((n) => l.includes(n))).sort().join('\n');
}

async function subnetOf(root: string, name: string): Promise<string> {
  return (await inspectNetwork(root, name)).IPAM.Config[0]!.Subnet;
}

async function httpGet(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return response.text();
}

describe('network attach (netavark, real netns)', function () {
  this.timeout(60_000);
  let root = '';
  let www = '';
  const processes: ChildProcess[] = [];
  const netnsEtc: string[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: needs root'); this.skip(); }
    try { await netavarkBinaries(); } catch (err) { console.log(`    skipped: ${(err as Error).message}`); this.skip(); }
    root = await makeTempDir('builder-net');
    www = path.join(root, 'www');
    await mkdir(www);
    await writeFile(path.join(www, 'index.html'), 'hello from web\n');
  });
  after(async () => {
    for (const child of processes) child.kill('SIGKILL');
    for (const dir of netnsEtc) await rm(dir, { recursive: true, force: true });
    if (root) await rm(netavarkConfigDir(root), { recursive: true, force: true });
    if (root) await removeTempDir(root);
  });

  /** Runs busybox in the attachment's netns with its rendered resolv.conf. */
  async function inNetns(attachment: Attachment, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const name = path.basename(attachment.netnsPath);
    const etc = `/etc/netns/${name}`;
    await mkdir(etc, { recursive: true });
    netnsEtc.push(etc);
    await writeFile(path.join(etc, 'resolv.conf'), renderResolvConf(attachment));
    return runCommand('ip', ['netns', 'exec', name, 'busybox', ...args]);
  }

  async function serve(attachment: Attachment): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', path.basename(attachment.netnsPath), 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' });
    processes.push(child);
    // Wait until it listens: a connection from inside the netns succeeds.
    for (let i = 0; i < 50; i++) {
      const probe = await runCommand('ip', ['netns', 'exec', path.basename(attachment.netnsPath), 'busybox', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1/']);
      if (probe.code === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('httpd did not start');
  }

  it('two containers on a user network resolve each other by name and alias and talk over TCP', async () => {
    await createNetwork(root, { name: 'appnet', internal: true });
    const net = openNetworking(root);
    const webId = id();
    const clientId = id();
    const web = await net.attach({ containerId: webId, name: 'web', hostname: 'web', endpoints: [{ network: 'appnet', aliases: ['www'] }], ports: [] });
    const client = await net.attach({ containerId: clientId, name: 'client', hostname: 'client', endpoints: [{ network: 'appnet', aliases: [] }], ports: [] });
    try {
      assert.notEqual(web.endpoints[0]!.ipAddress, client.endpoints[0]!.ipAddress);
      assert.deepEqual(client.dnsServers, [client.endpoints[0]!.gateway]);
      await serve(web);
      for (const host of ['web', 'www']) {
        const fetched = await inNetns(client, ['wget', '-q', '-O', '-', `http://${host}/`]);
        assert.equal(fetched.stdout, 'hello from web\n', `${host}: ${fetched.stderr}`);
      }
      const lookup = await inNetns(web, ['nslookup', 'client']);
      assert.match(lookup.stdout, new RegExp(client.endpoints[0]!.ipAddress.replace(/\./g, '\\.')));
    } finally {
      await net.detach(webId);
      await net.detach(clientId);
    }
  });

  it('publishes a port on 127.0.0.1 that answers from the host and closes after detach; detach is idempotent and cleans its rules', async () => {
    await createNetwork(root, { name: 'pubnet' });
    const net = openNetworking(root);
    const subnet = await subnetOf(root, 'pubnet');
    const before = await iptablesRules([subnet]);
    const webId = id();
    const web = await net.attach({ containerId: webId, name: 'pubweb', hostname: 'pubweb', endpoints: [{ network: 'pubnet', aliases: [] }], ports: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }] });
    const port = web.ports[0]!.hostPort;
    try {
      assert.ok(port > 0);
      await serve(web);
      assert.equal(await httpGet(`http://127.0.0.1:${port}/`), 'hello from web\n');
      assert.notEqual(await iptablesRules([subnet, `--dport ${port} `]), before);
    } finally {
      await net.detach(webId);
    }
    await assert.rejects(httpGet(`http://127.0.0.1:${port}/`));
    assert.equal(await iptablesRules([subnet, `--dport ${port} `]), before);
    await net.detach(webId);
    assert.equal(await iptablesRules([subnet, `--dport ${port} `]), before);
    await assert.rejects(access(`/run/netns/${netnsName(webId)}`));
  });

  it('-p HOST:CTR publishes on 0.0.0.0 (docker\'s default): loopback and the host\'s own address both answer', async () => {
    const net = openNetworking(root);
    const webId = id();
    const [binding] = parsePublish('0:80');
    const web = await net.attach({ containerId: webId, name: 'anyweb', hostname: 'anyweb', endpoints: [{ network: 'pubnet', aliases: [] }], ports: [binding!] });
    try {
      assert.equal(web.ports[0]!.hostIp, '0.0.0.0');
      await serve(web);
      const own = Object.values(os.networkInterfaces()).flat().find((a) => a?.family === 'IPv4' && !a.internal)?.address;
      for (const host of ['127.0.0.1', ...(own ? [own] : [])]) assert.equal(await httpGet(`http://${host}:${web.ports[0]!.hostPort}/`), 'hello from web\n', host);
    } finally {
      await net.detach(webId);
    }
  });

  it('publishes a udp port (-p 127.0.0.1::53/udp)', async () => {
    const net = openNetworking(root);
    const udpId = id();
    const [binding] = parsePublish('127.0.0.1::5353/udp');
    const attachment = await net.attach({ containerId: udpId, name: 'udp', hostname: 'udp', endpoints: [{ network: 'pubnet', aliases: [] }], ports: [binding!] });
    const echo = spawn('ip', ['netns', 'exec', path.basename(attachment.netnsPath), process.execPath, '-e',
      "const s = require('node:dgram').createSocket('udp4'); s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from('echo '), m]), r.port, r.address)); s.bind(5353);"], { stdio: 'ignore' });
    processes.push(echo);
    try {
      assert.equal(attachment.ports[0]!.protocol, 'udp');
      const { createSocket } = await import('node:dgram');
      const client = createSocket('udp4');
      const answer = new Promise<string>((resolve) => client.once('message', (m) => resolve(m.toString())));
      const timer = setInterval(() => client.send('ping', attachment.ports[0]!.hostPort, '127.0.0.1'), 200);
      try {
        assert.equal(await Promise.race([answer, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 5000))]), 'echo ping');
      } finally {
        clearInterval(timer);
        client.close();
      }
    } finally {
      echo.kill('SIGKILL');
      await net.detach(udpId);
    }
  });

  it('a host port already taken gives PORT_IN_USE and leaves no netns, rule or address behind', async () => {
    const net = openNetworking(root);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    const subnet = await subnetOf(root, 'pubnet');
    const before = await iptablesRules([subnet, `--dport ${taken} `]);
    const containerId = id();
    try {
      await assert.rejects(
        net.attach({ containerId, name: 'clash', hostname: 'clash', endpoints: [{ network: 'pubnet', aliases: [] }], ports: [{ hostIp: '127.0.0.1', hostPort: taken, containerPort: 80, protocol: 'tcp' }] }),
        (err: unknown) => err instanceof BuildError && err.code === 'PORT_IN_USE' && err.message.includes(`127.0.0.1:${taken}`),
      );
    } finally {
      blocker.close();
    }
    assert.equal(await iptablesRules([subnet, `--dport ${taken} `]), before);
    await assert.rejects(access(`/run/netns/${netnsName(containerId)}`));
    assert.equal((await readAttachments(root)).containers[containerId], undefined);
    // A port another container published is taken too, though no socket holds it (DNAT).
    const first = id();
    const second = id();
    const published = await net.attach({ containerId: first, name: 'p1', hostname: 'p1', endpoints: [{ network: 'pubnet', aliases: [] }], ports: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }] });
    try {
      await assert.rejects(
        net.attach({ containerId: second, name: 'p2', hostname: 'p2', endpoints: [{ network: 'pubnet', aliases: [] }], ports: [{ hostIp: '0.0.0.0', hostPort: published.ports[0]!.hostPort, containerPort: 80, protocol: 'tcp' }] }),
        (err: unknown) => err instanceof BuildError && err.code === 'PORT_IN_USE',
      );
    } finally {
      await net.detach(first);
    }
    assert.equal(await iptablesRules([subnet, `--dport ${taken} `]), before);
  });

  it('concurrent attaches get distinct addresses', async () => {
    const net = openNetworking(root);
    const ids = Array.from({ length: 6 }, id);
    const attachments = await Promise.all(ids.map((containerId, i) => net.attach({ containerId, name: `c${i}`, hostname: `c${i}`, endpoints: [{ network: 'appnet', aliases: [] }], ports: [] })));
    try {
      const addresses = attachments.map((a) => a.endpoints[0]!.ipAddress);
      assert.equal(new Set(addresses).size, ids.length, addresses.join(' '));
    } finally {
      await Promise.all(ids.map((containerId) => net.detach(containerId)));
    }
    const left = Object.keys((await readAttachments(root)).containers);
    assert.deepEqual(left.filter((c) => ids.includes(c)), []);
  });

  it('concurrent attaches from several processes get distinct addresses (the lock is a file lock)', async () => {
    const script = `
      const { openNetworking } = await import(${JSON.stringify(new URL('./index.js', import.meta.url).href)});
      const { randomBytes } = await import('node:crypto');
      const net = openNetworking(process.argv[1]);
      const ids = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
      const out = await Promise.all(ids.map((containerId) => net.attach({ containerId, name: containerId.slice(0, 8), hostname: 'x', endpoints: [{ network: 'appnet', aliases: [] }], ports: [] })));
      console.log(JSON.stringify(out.map((a, i) => [ids[i], a.endpoints[0].ipAddress])));`;
    const results = await Promise.all(Array.from({ length: 4 }, () => runCommand(process.execPath, ['--input-type=module', '-e', script, root])));
    const pairs = results.flatMap((r) => { assert.equal(r.code, 0, r.stderr); return JSON.parse(r.stdout) as [string, string][]; });
    try {
      assert.equal(pairs.length, 8);
      assert.equal(new Set(pairs.map(([, ip]) => ip)).size, 8, pairs.map(([, ip]) => ip).join(' '));
    } finally {
      for (const [containerId] of pairs) await openNetworking(root).detach(containerId);
    }
  });

  it('reaps attachments whose owner process died (a builder killed during a RUN)', async () => {
    const gone = spawn('true');
    await new Promise((resolve) => gone.once('exit', resolve));
    const net = openNetworking(root);
    const orphan = id();
    const live = id();
    await net.attach({ containerId: orphan, name: orphan, hostname: 'o', endpoints: [{ network: 'appnet', aliases: [] }], ports: [], ownerPid: gone.pid });
    await net.attach({ containerId: live, name: live, hostname: 'l', endpoints: [{ network: 'appnet', aliases: [] }], ports: [], ownerPid: process.pid });
    try {
      assert.deepEqual(await net.reapOrphans(), [orphan]);
      await assert.rejects(access(`/run/netns/${netnsName(orphan)}`));
      assert.ok((await readAttachments(root)).containers[live]);
    } finally {
      await net.detach(live);
      await net.detach(orphan);
    }
  });

  it('after a reboot (netns files gone) the addresses and ports of vanished containers are free again', async () => {
    const net = openNetworking(root);
    const before = id();
    const first = await net.attach({ containerId: before, name: 'old', hostname: 'old', endpoints: [{ network: 'pubnet', aliases: [] }], ports: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }] });
    await runCommand('ip', ['netns', 'delete', path.basename(first.netnsPath)]);
    const after = id();
    const second = await net.attach({ containerId: after, name: 'new', hostname: 'new', endpoints: [{ network: 'pubnet', aliases: [] }], ports: [{ ...first.ports[0]! }] });
    try {
      assert.equal(second.ports[0]!.hostPort, first.ports[0]!.hostPort);
      assert.equal(second.endpoints[0]!.ipAddress, first.endpoints[0]!.ipAddress);
      assert.equal((await readAttachments(root)).containers[before], undefined);
    } finally {
      await net.detach(after);
    }
  });

  it('--network none: a netns with only lo, up', async () => {
    const net = openNetworking(root);
    const containerId = id();
    const attachment = await net.attach({ containerId, name: 'lonely', hostname: 'lonely', endpoints: [], ports: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }] });
    try {
      assert.deepEqual(attachment.endpoints, []);
      assert.deepEqual(attachment.ports, []);
      const links = await runCommand('ip', ['-n', path.basename(attachment.netnsPath), '-o', 'addr', 'show']);
      assert.match(links.stdout, /lo\s+inet 127\.0\.0\.1\/8/);
      assert.doesNotMatch(links.stdout, /eth0/);
    } finally {
      await net.detach(containerId);
    }
    await assert.rejects(access(`/run/netns/${netnsName(containerId)}`));
  });

  it('an unknown network is NETWORK_NOT_FOUND and sets up nothing', async () => {
    const containerId = id();
    await assert.rejects(
      openNetworking(root).attach({ containerId, name: 'x', hostname: 'x', endpoints: [{ network: 'nosuchnet', aliases: [] }], ports: [] }),
      (err: unknown) => err instanceof BuildError && err.code === 'NETWORK_NOT_FOUND',
    );
    await assert.rejects(access(`/run/netns/${netnsName(containerId)}`));
  });

  it('a new network skips subnets netavark still has NAT rules for (a crash left them, or another store uses them)', async () => {
    const chain = `NETAVARK-T${randomBytes(5).toString('hex').toUpperCase()}`;
    // One /24 this store's own networks do not hold is left free; every other one has a leftover netavark rule.
    const own = new Set((await listNetworks(root)).map((n) => n.IPAM.Config[0]?.Subnet));
    const candidates = Array.from({ length: 254 }, (_, i) => i + 1).filter((i) => !own.has(`10.213.${i}.0/24`));
    const free = candidates[randomBytes(1)[0]! % candidates.length]!;
    const rules = [`*nat`, `:${chain} - [0:0]`];
    for (let i = 0; i < 256; i++) if (i !== free) rules.push(`-A POSTROUTING -s 10.213.${i}.0/24 -j ${chain}`);
    rules.push('COMMIT', '');
    const restore = (text: string): Promise<void> => new Promise((resolve, reject) => {
      const child = spawn('iptables-restore', ['--noflush'], { stdio: ['pipe', 'ignore', 'inherit'] });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`iptables-restore exited ${code}`))));
      child.stdin.end(text);
    });
    await restore(rules.join('\n'));
    try {
      await createNetwork(root, { name: 'leftovers' });
      assert.equal((await inspectNetwork(root, 'leftovers')).IPAM.Config[0]!.Subnet, `10.213.${free}.0/24`);
    } finally {
      const cleanup = ['*nat', ...rules.filter((r) => r.startsWith('-A ')).map((r) => r.replace(/^-A /, '-D ')), `-X ${chain}`, 'COMMIT', ''];
      await restore(cleanup.join('\n'));
    }
  });
});
