/**
 * What every container holds on the networks: $BUILDER_ROOT/networks/.attachments.json, read and written
 * only under the networks lock. It is the IPAM (an address is taken iff some attachment holds it) and the
 * port table, and it keeps enough (network definitions included) to tear down after a crash.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { formatIpv4, parseCidr, parseIpv4 } from './ipv4.js';
import { networksDir, type NetworkRecord } from './network-record.js';
import type { PortBinding } from './types.js';

export interface EndpointRecord {
  network: NetworkRecord;
  interfaceName: string;
  ip: string;
  macAddress: string;
  aliases: string[];
  endpointId: string;
}

export interface AttachmentRecord {
  containerId: string;
  name: string;
  netnsPath: string;
  endpoints: EndpointRecord[];
  ports: PortBinding[];
  /** Ports are forwarded to this network's address (the first joined). */
  portsNetwork?: string;
  /** Set for a RUN step's attachment: the builder process that owns it; a dead owner's attachment is reaped. */
  ownerPid?: number;
}

export interface AttachmentTable {
  containers: Record<string, AttachmentRecord>;
}

function tablePath(root: string): string {
  return path.join(networksDir(root), '.attachments.json');
}

export async function readAttachments(root: string): Promise<AttachmentTable> {
  try {
    const text = await readFile(tablePath(root), 'utf8');
    // Written without fsync (below): a machine crash may leave it empty, and then nothing in it was alive anyway.
    if (text.trim() === '') return { containers: {} };
    const table = JSON.parse(text) as AttachmentTable;
    return { containers: table.containers ?? {} };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { containers: {} };
    throw new BuildError('STORE_CORRUPT', `network attachments ${tablePath(root)} are unreadable: ${(err as Error).message}`);
  }
}

/**
 * No fsync: what the table describes (netns files on /run, iptables rules, veths) does not survive a machine
 * crash either, so after one the table only has to be readable, not current. Atomic rename still applies.
 */
export async function writeAttachments(root: string, table: AttachmentTable): Promise<void> {
  await writeFileAtomic(tablePath(root), `${JSON.stringify(table)}\n`, { sync: false });
}

/** The next free address of the network: above the gateway first, as docker's IPAM. */
export function allocateAddress(table: AttachmentTable, network: NetworkRecord): string {
  const subnet = parseCidr(network.subnet);
  const used = new Set<string>([network.gateway]);
  for (const record of Object.values(table.containers)) {
    for (const endpoint of record.endpoints) if (endpoint.network.id === network.id) used.add(endpoint.ip);
  }
  const size = 2 ** (32 - subnet.prefix);
  const gateway = parseIpv4(network.gateway) ?? subnet.base + 1;
  // Search from just above the gateway, wrap around, skip the network and broadcast addresses.
  for (let step = 1; step < size; step++) {
    const candidate = subnet.base + ((gateway - subnet.base + step) % size);
    if (candidate === subnet.base || candidate === subnet.base + size - 1) continue;
    const ip = formatIpv4(candidate);
    if (!used.has(ip)) return ip;
  }
  throw new BuildError('CONFLICT', `no available IPv4 addresses on network ${network.name} (${network.subnet})`);
}

/** Containers that hold an endpoint on this network (for `network rm` and inspect's Containers). */
export function usersOf(table: AttachmentTable, networkId: string): AttachmentRecord[] {
  return Object.values(table.containers).filter((r) => r.endpoints.some((e) => e.network.id === networkId));
}

/**
 * A running container by name, id or unique id prefix, from the attachment table. `network connect` of a
 * stopped container (kept in its config only) is the containers side's to record.
 */
export function findAttached(table: AttachmentTable, ref: string): AttachmentRecord {
  const all = Object.values(table.containers);
  const exact = all.find((r) => r.name === ref || r.containerId === ref);
  if (exact) return exact;
  const byPrefix = /^[0-9a-f]+$/.test(ref) ? all.filter((r) => r.containerId.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0]!;
  throw new BuildError('CONTAINER_NOT_FOUND', `No such container: ${ref}`);
}
