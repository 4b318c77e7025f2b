/**
 * Networks as data: $BUILDER_ROOT/networks/<name>.json, written atomically. Creating one picks a free
 * /24 from builder's own pool unless --subnet is given; nothing here touches the kernel (netavark does
 * that per container, in attach.ts).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { withFileLock } from '../store/file-lock.js';
import { formatIpv4, parseCidr, parseIpv4, subnetsOverlap, type Cidr } from './ipv4.js';

export interface NetworkRecord {
  id: string;
  name: string;
  driver: 'bridge';
  subnet: string;
  gateway: string;
  internal: boolean;
  labels: Record<string, string>;
  created: string;
  /** The host-side bridge interface (≤ 15 chars). */
  bridge: string;
  /** aardvark-dns answers container names and aliases; off on the default `bridge` network, as docker. */
  dnsEnabled: boolean;
}

export interface CreateNetworkOptions {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  labels?: Record<string, string>;
}

/** docker's default network: no DNS by name. Its subnet comes from builder's own pool, so it never meets dockerd's docker0. */
export const DEFAULT_NETWORK = 'bridge';
/** Networks builder keeps for itself (the farm's RUN network); hidden from ls and prune. */
export const RESERVED_NETWORKS = new Set(['host', 'none', 'default', 'builder-build']);
const POOL = parseCidr('10.213.0.0/16');
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function networksDir(root: string): string {
  return path.join(root, 'networks');
}

export function networkLockPath(root: string): string {
  return path.join(networksDir(root), '.lock');
}

function recordPath(root: string, name: string): string {
  return path.join(networksDir(root), `${name}.json`);
}

export async function listNetworkRecords(root: string): Promise<NetworkRecord[]> {
  await ensureDefaultNetwork(root);
  const names = (await readdir(networksDir(root)).catch(() => [] as string[])).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
  const records = await Promise.all(names.map((f) => readRecord(path.join(networksDir(root), f))));
  return records.filter((r): r is NetworkRecord => r !== undefined).sort((a, b) => a.name.localeCompare(b.name));
}

async function readRecord(file: string): Promise<NetworkRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as NetworkRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BuildError('STORE_CORRUPT', `network record ${file} is unreadable: ${(err as Error).message}`);
  }
}

/** By name, full id or unique id prefix (as docker). */
export async function findNetwork(root: string, ref: string): Promise<NetworkRecord> {
  const all = await listNetworkRecords(root);
  const exact = all.find((n) => n.name === ref || n.id === ref);
  if (exact) return exact;
  const byPrefix = ref.length > 0 && /^[0-9a-f]+$/.test(ref) ? all.filter((n) => n.id.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) throw new BuildError('CONFLICT', `network ${ref} is ambiguous (${byPrefix.length} matches found based on ID prefix)`);
  throw new BuildError('NETWORK_NOT_FOUND', `network ${ref} not found`);
}

/** Creates the record under the networks lock: names unique, subnets never overlapping another network's. */
export async function createNetworkRecord(root: string, options: CreateNetworkOptions): Promise<NetworkRecord> {
  validateName(options.name);
  if (options.driver !== undefined && options.driver !== 'bridge') {
    throw new BuildError('NOT_SUPPORTED', `plugin "${options.driver}" not found: only the bridge driver is supported`);
  }
  await ensureDefaultNetwork(root);
  return withFileLock(networkLockPath(root), () => createLocked(root, options, false));
}

async function createLocked(root: string, options: CreateNetworkOptions, isDefault: boolean): Promise<NetworkRecord> {
  const existing = await readRecord(recordPath(root, options.name));
  if (existing) {
    if (isDefault) return existing;
    throw new BuildError('CONFLICT', `network with name ${options.name} already exists`);
  }
  const others = (await readdir(networksDir(root))).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
  const taken = (await Promise.all(others.map((f) => readRecord(path.join(networksDir(root), f))))).filter((r): r is NetworkRecord => !!r);
  const subnet = options.subnet !== undefined ? userSubnet(options.subnet, taken) : pickSubnet(taken, await natSubnets());
  const gateway = options.gateway !== undefined ? userGateway(options.gateway, subnet) : formatIpv4(subnet.base + 1);
  const id = randomBytes(32).toString('hex');
  const record: NetworkRecord = {
    id, name: options.name, driver: 'bridge', subnet: `${formatIpv4(subnet.base)}/${subnet.prefix}`, gateway,
    internal: options.internal ?? false, labels: options.labels ?? {}, created: new Date().toISOString(),
    // No DNS by name on the default bridge (docker's rule) nor on builder's own networks.
    bridge: `bldr-${id.slice(0, 10)}`, dnsEnabled: !isDefault,
  };
  await writeFileAtomic(recordPath(root, record.name), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

/** The default `bridge` network exists on every store (made on first use, as docker's). */
export async function ensureDefaultNetwork(root: string): Promise<void> {
  await mkdir(networksDir(root), { recursive: true });
  if (await readRecord(recordPath(root, DEFAULT_NETWORK))) return;
  await withFileLock(networkLockPath(root), () => createLocked(root, { name: DEFAULT_NETWORK }, true));
}

/** Creates a builder-owned network (the farm's build network) if missing; not listed to users. */
export async function ensureReservedNetwork(root: string, options: CreateNetworkOptions): Promise<NetworkRecord> {
  await ensureDefaultNetwork(root);
  return withFileLock(networkLockPath(root), () => createLocked(root, options, true));
}

/** Whether this very network (same id) still has its record; lock-free, for use under the networks lock. */
export async function networkExists(root: string, network: NetworkRecord): Promise<boolean> {
  return (await readRecord(recordPath(root, network.name)))?.id === network.id;
}

export async function deleteNetworkRecord(root: string, name: string): Promise<void> {
  await unlink(recordPath(root, name)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

function validateName(name: string): void {
  if (RESERVED_NETWORKS.has(name) || name === DEFAULT_NETWORK) {
    throw new BuildError('CONFLICT', `${name} is a pre-defined network and cannot be created`);
  }
  if (!NAME_PATTERN.test(name) || name.length > 200) {
    throw new BuildError('INVALID_ARGUMENT', `invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
}

function userSubnet(text: string, taken: NetworkRecord[]): Cidr {
  const subnet = parseCidr(text);
  if (subnet.prefix > 30) throw new BuildError('INVALID_ARGUMENT', `invalid subnet ${text}: a bridge needs at least /30`);
  const clash = taken.find((n) => subnetsOverlap(parseCidr(n.subnet), subnet));
  if (clash) throw new BuildError('CONFLICT', `invalid pool request: Pool overlaps with other one on this address space (network ${clash.name})`);
  return subnet;
}

function userGateway(text: string, subnet: Cidr): string {
  const ip = parseIpv4(text);
  if (ip === undefined) throw new BuildError('INVALID_ARGUMENT', `invalid gateway ${text}`);
  const size = 2 ** (32 - subnet.prefix);
  if (ip <= subnet.base || ip >= subnet.base + size - 1) {
    throw new BuildError('INVALID_ARGUMENT', `no matching subnet for gateway ${text}`);
  }
  return formatIpv4(ip);
}

/**
 * A free /24 of 10.213.0.0/16, starting at a random one: two stores on one machine (tests use temporary ones)
 * then rarely pick the same; subnets routed on the host right now (another store's live bridge, a VPN) are skipped,
 * and so are subnets netavark still has NAT rules for (another store's network, or one a crash left behind: netavark's
 * teardown of a second network on the same subnet would remove the rules the two share).
 */
function pickSubnet(taken: NetworkRecord[], natted: Cidr[]): Cidr {
  const used = [...taken.map((n) => parseCidr(n.subnet)), ...hostRoutes(), ...natted];
  const start = randomBytes(1)[0]!;
  for (let step = 0; step < 256; step++) {
    const candidate: Cidr = { base: POOL.base + ((start + step) % 256) * 256, prefix: 24 };
    if (!used.some((u) => subnetsOverlap(u, candidate))) return candidate;
  }
  throw new BuildError('CONFLICT', 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}

/** Subnets with netavark masquerade rules (`-A POSTROUTING -s SUBNET -j NETAVARK-…`); none when iptables-save can't run. */
async function natSubnets(): Promise<Cidr[]> {
  const text = await new Promise<string>((resolve) => {
    execFile('iptables-save', ['-t', 'nat'], { timeout: 5000 }, (err, stdout) => resolve(err ? '' : stdout));
  });
  const subnets: Cidr[] = [];
  for (const match of text.matchAll(/^-A POSTROUTING -s (\d+\.\d+\.\d+\.\d+\/\d+) -j NETAVARK-/gm)) {
    try {
      subnets.push(parseCidr(match[1]!));
    } catch {
      // Not one of ours to worry about (host bits set): ignore.
    }
  }
  return subnets;
}

/** IPv4 routes of the host (/proc/net/route: little-endian hex destination and mask), default route excluded. */
function hostRoutes(): Cidr[] {
  let text = '';
  try {
    text = readFileSync('/proc/net/route', 'utf8');
  } catch {
    return [];
  }
  const toNumber = (hex: string): number => Buffer.from(hex, 'hex').readUInt32LE(0);
  return text.split('\n').slice(1).map((line) => line.trim().split(/\s+/)).filter((f) => f.length > 7 && f[1] !== '00000000').map((f) => {
    const mask = toNumber(f[7]!);
    const prefix = mask.toString(2).split('').filter((bit) => bit === '1').length;
    return { base: toNumber(f[1]!), prefix };
  });
}
