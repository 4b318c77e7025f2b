/**
 * The build network for RUN steps (`isolated`, the farm's default; issue 14): each RUN gets its own netns
 * on builder's dedicated bridge `builder-build`, with NAT for outbound traffic (package mirrors,
 * registries), and firewall rules in front of everything else that
 * - refuse every packet from the bridge to the worker itself (INPUT: all of its addresses, loopback
 *   included, whatever the port — Redis, the API, the registry), except replies to connections it opened;
 * - refuse forwarding to loopback, link-local 169.254/16 (cloud metadata), builder's container networks and
 *   the configured deny CIDRs, unless an allow CIDR says otherwise.
 * Rejections are TCP resets / ICMP unreachable, so a probe fails at once instead of hanging.
 */
import { execFile } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { NetavarkNetworking } from './attach.js';
import { parseCidr } from './ipv4.js';
import { netavarkConfigDir } from './netavark.js';
import { drainNetnsPool, NetnsPool, poolOf, poolSize, setPool } from './netns-pool.js';
import { ensureReservedNetwork, listNetworkRecords, type NetworkRecord } from './network-record.js';

export type BuildNetworkMode = 'host' | 'none' | 'isolated';

export interface BuildNetworkPolicy {
  /** Reachable even inside a denied range (e.g. an internal mirror in 10.0.0.0/8). Never opens the worker itself. */
  allowCidrs: string[];
  /** Refused on top of the built-in list (the farm's Redis and service subnets). */
  denyCidrs: string[];
}

export const BUILD_NETWORK = 'builder-build';
const BRIDGE_HOLDER = 'builder-build-bridge-holder';
/** Always refused: loopback, link-local (metadata services), builder's own container networks. */
export const BUILTIN_DENY = ['127.0.0.0/8', '169.254.0.0/16', '10.213.0.0/16'];

export function validatePolicy(policy: BuildNetworkPolicy): void {
  for (const cidr of [...policy.allowCidrs, ...policy.denyCidrs]) {
    try {
      parseCidr(cidr);
    } catch {
      throw new BuildError('INVALID_ARGUMENT', `build network: "${cidr}" is not an IPv4 CIDR (e.g. 10.0.0.0/8)`);
    }
  }
}

function iptables(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('iptables', ['-w', ...args], (err, _stdout, stderr) => resolve({ code: err ? 1 : 0, stderr }));
  });
}

async function must(args: string[]): Promise<void> {
  const result = await iptables(args);
  if (result.code !== 0) throw new BuildError('SANDBOX_FAILED', `build network firewall: iptables ${args.join(' ')} failed: ${result.stderr.trim()}`);
}

function reject(chain: string, match: string[]): string[][] {
  return [
    ['-A', chain, ...match, '-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'],
    ['-A', chain, ...match, '-j', 'REJECT', '--reject-with', 'icmp-admin-prohibited'],
  ];
}

function chainsOf(network: NetworkRecord): { input: string; forward: string } {
  const suffix = network.bridge.replace(/^bldr-/, '');
  return { input: `BLDR-IN-${suffix}`, forward: `BLDR-FWD-${suffix}` };
}

/** (Re)writes the two chains of this bridge and hooks them first in INPUT and FORWARD; idempotent. */
export async function installFirewall(network: NetworkRecord, policy: BuildNetworkPolicy): Promise<void> {
  const { input, forward } = chainsOf(network);
  for (const chain of [input, forward]) {
    if ((await iptables(['-N', chain])).code !== 0) await must(['-F', chain]);
  }
  const rules: string[][] = [
    ['-A', input, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
    ...reject(input, []),
    ...policy.allowCidrs.map((cidr) => ['-A', forward, '-d', cidr, '-j', 'RETURN']),
    ...[...BUILTIN_DENY, ...policy.denyCidrs].flatMap((cidr) => reject(forward, ['-d', cidr])),
  ];
  for (const rule of rules) await must(rule);
  for (const [hook, chain] of [['INPUT', input], ['FORWARD', forward]] as const) {
    if ((await iptables(['-C', hook, '-i', network.bridge, '-j', chain])).code !== 0) await must(['-I', hook, '1', '-i', network.bridge, '-j', chain]);
  }
}

/** Unhooks and deletes the build network's chains (a store being deleted, or tests); quiet when they are gone. */
export async function removeBuildFirewall(root: string): Promise<void> {
  const network = (await listNetworkRecords(root)).find((n) => n.name === BUILD_NETWORK);
  if (!network) return;
  const { input, forward } = chainsOf(network);
  for (const [hook, chain] of [['INPUT', input], ['FORWARD', forward]] as const) {
    while ((await iptables(['-D', hook, '-i', network.bridge, '-j', chain])).code === 0) { /* remove every copy */ }
    await iptables(['-F', chain]);
    await iptables(['-X', chain]);
  }
  for (const key of ready.keys()) if (key.startsWith(`${root}\0`)) ready.delete(key);
}

/** For a store that goes away: tears down its RUN attachments whose builders died, then its firewall chains. */
export async function cleanupBuildNetwork(root: string): Promise<void> {
  await drainNetnsPool(root);
  const networking = new NetavarkNetworking(root);
  await networking.reapOrphans();
  await networking.detach(BRIDGE_HOLDER);
  await removeBuildFirewall(root);
  const { readAttachments } = await import('./attachments.js');
  if (Object.keys((await readAttachments(root)).containers).length === 0) await rm(netavarkConfigDir(root), { recursive: true, force: true });
}

async function hooksInPlace(network: NetworkRecord): Promise<boolean> {
  const { input, forward } = chainsOf(network);
  const checks = await Promise.all([
    iptables(['-C', 'INPUT', '-i', network.bridge, '-j', input]),
    iptables(['-C', 'FORWARD', '-i', network.bridge, '-j', forward]),
  ]);
  return checks.every((c) => c.code === 0);
}

const ready = new Map<string, Promise<NetworkRecord>>();

/** The build network's record and firewall, once per process and policy (a reboot restarts the worker too). */
export function ensureBuildNetwork(root: string, policy: BuildNetworkPolicy): Promise<NetworkRecord> {
  validatePolicy(policy);
  const key = `${root}\0${JSON.stringify(policy)}`;
  let made = ready.get(key);
  if (!made) {
    made = (async () => {
      const network = await ensureReservedNetwork(root, { name: BUILD_NETWORK });
      await installFirewall(network, policy);
      const networking = new NetavarkNetworking(root);
      // RUNs of a builder that was killed keep their netns and address until someone reaps them.
      await networking.reapOrphans();
      // An idle netns that stays attached keeps the bridge up: netavark deletes a bridge with its last veth,
      // and re-creating it (and its NAT rules) costs ~150 ms per RUN. Nothing runs in it.
      const holder = await networking.inspect(BRIDGE_HOLDER);
      // After a reboot the record survives but its netns does not: attach again (attach replaces the stale one).
      if (!holder || !(await stat(holder.netnsPath).then(() => true, () => false))) {
        await networking.attachResolved({ containerId: BRIDGE_HOLDER, name: BRIDGE_HOLDER, hostname: BRIDGE_HOLDER, endpoints: [{ network: BUILD_NETWORK, aliases: [] }], ports: [] }, [network]);
      }
      return network;
    })();
    made.catch(() => ready.delete(key));
    ready.set(key, made);
  }
  return made;
}

/**
 * Runs `fn` with a netns on the build network that no RUN used before (prepared ahead by the pool); the netns, its
 * address and its rules go afterwards, whatever happens (in the background; `drainNetnsPool` waits for it).
 */
export async function withBuildNetwork<T>(root: string, policy: BuildNetworkPolicy, fn: (netnsPath: string) => Promise<T>): Promise<T> {
  let network = await ensureBuildNetwork(root, policy);
  // The firewall check and taking a netns run side by side: neither waits for the other, and fn waits for both.
  const pool = buildNetnsPool(root, network);
  const [inPlace, netns] = await Promise.all([hooksInPlace(network), pool.take()]);
  try {
    // The chains are what keeps a RUN off the worker: if anything removed them since (another process's
    // cleanup, a firewall reload), install them again rather than run unprotected.
    if (!inPlace) {
      for (const key of ready.keys()) if (key.startsWith(`${root}\0`)) ready.delete(key);
      network = await ensureBuildNetwork(root, policy);
      if (!(await hooksInPlace(network))) throw new BuildError('SANDBOX_FAILED', 'build network: the firewall chains are missing and could not be installed');
    }
    return await fn(netns.netnsPath);
  } finally {
    pool.release(netns);
  }
}

/** The store's pool of attached netns (builder/network/netns-pool.ts); a new one when the network was set up again. */
function buildNetnsPool(root: string, network: NetworkRecord): NetnsPool {
  const existing = poolOf(root);
  if (existing && existing.network.id === network.id) return existing;
  // Drained in the background: its netns belong to a network record that was replaced.
  if (existing) void drainNetnsPool(root).catch(() => undefined);
  const networking = new NetavarkNetworking(root);
  const pool = new NetnsPool(network, poolSize(), async (id) => {
    const attachment = await networking.attachResolved(
      { containerId: id, name: id, hostname: id, endpoints: [{ network: BUILD_NETWORK, aliases: [] }], ports: [], ownerPid: process.pid },
      [network],
    );
    try {
      await isolatePort(attachment.netnsPath);
    } catch (err) {
      await networking.detach(id).catch(() => undefined);
      throw err;
    }
    return { id, netnsPath: attachment.netnsPath };
  }, (id) => networking.detach(id));
  setPool(root, pool);
  return pool;
}

function ipJson(args: string[]): Promise<{ ifindex: number; ifname: string; link_index?: number }[]> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['-j', ...args], (err, stdout, stderr) => {
      if (err) reject(new BuildError('SANDBOX_FAILED', `build network: ip ${args.join(' ')} failed: ${stderr.trim()}`));
      else resolve(JSON.parse(stdout || '[]') as { ifindex: number; ifname: string; link_index?: number }[]);
    });
  });
}

/**
 * Marks the RUN's host-side veth an isolated bridge port: isolated ports cannot talk to each other, only
 * through the bridge (where the firewall is). Bridged traffic never passes iptables (no br_netfilter), so
 * without this two RUNs of different builds on one worker could reach each other.
 */
async function isolatePort(netnsPath: string): Promise<void> {
  const [eth0] = await ipJson(['-n', path.basename(netnsPath), 'link', 'show', 'eth0']);
  const peer = eth0?.link_index;
  if (peer === undefined) throw new BuildError('SANDBOX_FAILED', 'build network: cannot find the host side of the RUN\'s veth');
  const host = (await ipJson(['link', 'show'])).find((link) => link.ifindex === peer);
  if (!host) throw new BuildError('SANDBOX_FAILED', 'build network: cannot find the host side of the RUN\'s veth');
  await new Promise<void>((resolve, reject) => {
    execFile('ip', ['link', 'set', 'dev', host.ifname, 'type', 'bridge_slave', 'isolated', 'on'], (err, _stdout, stderr) => {
      if (err) reject(new BuildError('SANDBOX_FAILED', `build network: cannot isolate ${host.ifname}: ${stderr.trim()}`));
      else resolve();
    });
  });
}
