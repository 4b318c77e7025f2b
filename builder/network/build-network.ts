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
import { BuildError } from '../errors.js';
import { NetavarkNetworking } from './attach.js';
import { parseCidr } from './ipv4.js';
import { ensureReservedNetwork, listNetworkRecords, type NetworkRecord } from './network-record.js';

export type BuildNetworkMode = 'host' | 'none' | 'isolated';

export interface BuildNetworkPolicy {
  /** Reachable even inside a denied range (e.g. an internal mirror in 10.0.0.0/8). Never opens the worker itself. */
  allowCidrs: string[];
  /** Refused on top of the built-in list (the farm's Redis and service subnets). */
  denyCidrs: string[];
}

export const BUILD_NETWORK = 'builder-build';
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
  await new NetavarkNetworking(root).reapOrphans();
  await removeBuildFirewall(root);
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
      // RUNs of a builder that was killed keep their netns and address until someone reaps them.
      await new NetavarkNetworking(root).reapOrphans();
      return network;
    })();
    made.catch(() => ready.delete(key));
    ready.set(key, made);
  }
  return made;
}

/** Runs `fn` with a fresh netns on the build network; the netns, its address and its rules go afterwards, whatever happens. */
export async function withBuildNetwork<T>(root: string, runId: string, policy: BuildNetworkPolicy, fn: (netnsPath: string) => Promise<T>): Promise<T> {
  const network = await ensureBuildNetwork(root, policy);
  const networking = new NetavarkNetworking(root);
  const attachment = await networking.attachResolved(
    { containerId: runId, name: runId, hostname: runId, endpoints: [{ network: BUILD_NETWORK, aliases: [] }], ports: [], ownerPid: process.pid },
    [network],
  );
  try {
    return await fn(attachment.netnsPath);
  } finally {
    await networking.detach(runId);
  }
}
