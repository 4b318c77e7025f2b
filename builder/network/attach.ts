/**
 * ContainerNetworking over netavark. Every change happens under the networks lock in three steps:
 * record the plan (addresses, ports, netns path) in the attachment table, let netavark make it real,
 * and on any failure undo both — so a failed attach leaves no netns, no rule and no address behind,
 * and a crash in between leaves a record that detach knows how to clean.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { BuildError } from '../errors.js';
import { isProcessAlive, withFileLock } from '../store/file-lock.js';
import { allocateAddress, readAttachments, usersOf, writeAttachments, type AttachmentRecord, type AttachmentTable, type EndpointRecord } from './attachments.js';
import { waitForDns } from './dns-ready.js';
import { hostDns } from './etc-files.js';
import { parseCidr } from './ipv4.js';
import { ipQuiet, netavarkSetup, netavarkTeardown, type NetavarkRequest } from './netavark.js';
import { ensureDefaultNetwork, findNetwork, networkExists, networkLockPath, type NetworkRecord } from './network-record.js';
import { allocatePorts } from './port-alloc.js';
import type { AttachRequest, Attachment, ContainerNetworking, Endpoint, EndpointRequest, PortBinding } from './types.js';

export function netnsName(containerId: string): string {
  return `builder-${containerId.replace(/[^a-zA-Z0-9_.-]/g, '').slice(0, 40)}`;
}

const exists = (file: string): Promise<boolean> => stat(file).then(() => true, () => false);

export class NetavarkNetworking implements ContainerNetworking {
  constructor(readonly root: string) {}

  async attach(request: AttachRequest): Promise<Attachment> {
    const networks = await this.resolveNetworks(request.endpoints);
    const attachment = await this.attachResolved(request, networks);
    await dnsReady(attachment.endpoints, networks, request.name);
    return attachment;
  }

  /** attach() with the networks already looked up; the farm's build network (not user-visible) comes in here. */
  async attachResolved(request: AttachRequest, networks: NetworkRecord[]): Promise<Attachment> {
    return withFileLock(networkLockPath(this.root), async () => {
      // A network removed between lookup and lock must not be joined.
      for (const network of networks) {
        if (!(await networkExists(this.root, network))) throw new BuildError('NETWORK_NOT_FOUND', `network ${network.name} not found`);
      }
      // Safe to call again after a crash half-way: whatever an earlier attempt left goes first.
      if ((await readAttachments(this.root)).containers[request.containerId]) await this.detachLocked(request.containerId);
      await this.reapVanished();
      const table = await readAttachments(this.root);
      const netnsPath = `/run/netns/${netnsName(request.containerId)}`;
      const endpoints: EndpointRecord[] = networks.map((network, index) => ({
        network, interfaceName: `eth${index}`, ip: allocateAddress(table, network), macAddress: '',
        endpointId: randomBytes(32).toString('hex'), aliases: request.endpoints[index]?.aliases ?? [],
      }));
      const ports = endpoints.length === 0 ? [] : await allocatePorts(table, request.ports, request.containerId);
      const record: AttachmentRecord = {
        containerId: request.containerId, name: request.name, netnsPath, endpoints, ports, portsNetwork: endpoints[0]?.network.name,
        ...(request.ownerPid ? { ownerPid: request.ownerPid } : {}),
      };
      table.containers[request.containerId] = record;
      await writeAttachments(this.root, table);
      try {
        await createNetns(netnsPath);
        // `--network none`: a netns with only lo, which a fresh netns has down (netavark brings it up otherwise).
        if (endpoints.length === 0) await ipQuiet(['-n', netnsName(request.containerId), 'link', 'set', 'lo', 'up']);
        if (endpoints.length > 0) {
          const [first, ...rest] = endpoints;
          await this.setup(record, [first!], ports);
          if (rest.length > 0) await this.setup(record, rest, []);
        }
        // Now with the MAC addresses netavark chose.
        await writeAttachments(this.root, table);
      } catch (err) {
        await this.detachLocked(request.containerId).catch(() => undefined);
        throw err;
      }
      return toAttachment(record);
    });
  }

  async detach(containerId: string): Promise<void> {
    await withFileLock(networkLockPath(this.root), () => this.detachLocked(containerId));
  }

  async connect(containerId: string, endpoint: EndpointRequest & { name: string }): Promise<Endpoint> {
    const [network] = await this.resolveNetworks([endpoint]);
    return withFileLock(networkLockPath(this.root), async () => {
      const table = await readAttachments(this.root);
      const record = table.containers[containerId];
      if (!record) throw new BuildError('CONFLICT', `container ${containerId.slice(0, 12)} is not running: it has no network namespace to connect`);
      if (record.endpoints.some((e) => e.network.id === network!.id)) {
        throw new BuildError('CONFLICT', `endpoint with name ${endpoint.name} already exists in network ${network!.name}`);
      }
      const used = new Set(record.endpoints.map((e) => e.interfaceName));
      let index = 0;
      while (used.has(`eth${index}`)) index++;
      const added: EndpointRecord = {
        network: network!, interfaceName: `eth${index}`, ip: allocateAddress(table, network!), macAddress: '',
        endpointId: randomBytes(32).toString('hex'), aliases: endpoint.aliases,
      };
      record.endpoints.push(added);
      await writeAttachments(this.root, table);
      try {
        await this.setup(record, [added], []);
      } catch (err) {
        await this.teardown(record, [added], []);
        record.endpoints = record.endpoints.filter((e) => e !== added);
        await writeAttachments(this.root, table);
        throw err;
      }
      await writeAttachments(this.root, table);
      return toEndpoint(added);
    }).then(async (added) => {
      await dnsReady([added], [network!], endpoint.name);
      return added;
    });
  }

  async disconnect(containerId: string, networkRef: string): Promise<void> {
    const network = await findNetwork(this.root, networkRef);
    await withFileLock(networkLockPath(this.root), async () => {
      const table = await readAttachments(this.root);
      const record = table.containers[containerId];
      const endpoint = record?.endpoints.find((e) => e.network.id === network.id);
      if (!record || !endpoint) throw new BuildError('CONFLICT', `container ${containerId.slice(0, 12)} is not connected to network ${network.name}`);
      const portsGo = record.portsNetwork === network.name;
      await this.teardown(record, [endpoint], portsGo ? record.ports : []);
      record.endpoints = record.endpoints.filter((e) => e !== endpoint);
      if (portsGo) record.ports = [];
      await writeAttachments(this.root, table);
      await removeIdleBridges(table, [endpoint.network]);
    });
  }

  /** Tears down attachments whose owner process died (a builder killed during a RUN); returns their ids. */
  async reapOrphans(): Promise<string[]> {
    return withFileLock(networkLockPath(this.root), async () => {
      const dead = Object.values((await readAttachments(this.root)).containers).filter((r) => r.ownerPid !== undefined && !isProcessAlive(r.ownerPid));
      for (const record of dead) await this.detachLocked(record.containerId);
      return dead.map((r) => r.containerId);
    });
  }

  /** The current attachment of a container, if it has one (for inspect and the daemon). */
  async inspect(containerId: string): Promise<Attachment | undefined> {
    const record = (await readAttachments(this.root)).containers[containerId];
    return record ? toAttachment(record) : undefined;
  }

  private async resolveNetworks(requests: EndpointRequest[]): Promise<NetworkRecord[]> {
    await ensureDefaultNetwork(this.root);
    const networks: NetworkRecord[] = [];
    for (const request of requests) {
      const network = await findNetwork(this.root, request.network);
      if (networks.some((n) => n.id === network.id)) throw new BuildError('INVALID_ARGUMENT', `network ${network.name} given twice`);
      networks.push(network);
    }
    return networks;
  }

  /**
   * An attachment whose netns file is gone (a reboot empties /run/netns; a crash before the netns was made)
   * cannot be in use: free its addresses and ports, so a restarted machine does not answer PORT_IN_USE forever.
   */
  private async reapVanished(): Promise<void> {
    for (const record of Object.values((await readAttachments(this.root)).containers)) {
      if (!(await exists(record.netnsPath))) await this.detachLocked(record.containerId);
    }
  }

  private async detachLocked(containerId: string): Promise<void> {
    const table = await readAttachments(this.root);
    const record = table.containers[containerId];
    const netnsPath = record?.netnsPath ?? `/run/netns/${netnsName(containerId)}`;
    if (record && record.endpoints.length > 0) {
      // After a reboot or a crash the netns may be gone; netavark needs one to clean rules and DNS.
      if (!(await exists(netnsPath))) await createNetns(netnsPath).catch(() => undefined);
      const primary = record.endpoints.filter((e) => e.network.name === record.portsNetwork);
      const others = record.endpoints.filter((e) => e.network.name !== record.portsNetwork);
      if (primary.length > 0) await this.teardown(record, primary, record.ports);
      if (others.length > 0) await this.teardown(record, others, []);
    }
    if (await exists(netnsPath)) await ipQuiet(['netns', 'delete', netnsPath.replace('/run/netns/', '')]);
    if (!record) return;
    delete table.containers[containerId];
    await writeAttachments(this.root, table);
    await removeIdleBridges(table, record.endpoints.map((e) => e.network));
  }

  private async setup(record: AttachmentRecord, endpoints: EndpointRecord[], ports: PortBinding[]): Promise<void> {
    const status = await netavarkSetup(this.root, this.request(record, endpoints, ports));
    for (const endpoint of endpoints) {
      const mac = status[endpoint.network.id]?.interfaces?.[endpoint.interfaceName]?.mac_address;
      if (mac) endpoint.macAddress = mac;
    }
  }

  private async teardown(record: AttachmentRecord, endpoints: EndpointRecord[], ports: PortBinding[]): Promise<void> {
    await netavarkTeardown(this.root, this.request(record, endpoints, ports));
  }

  private request(record: AttachmentRecord, endpoints: EndpointRecord[], ports: PortBinding[]): NetavarkRequest {
    const shortId = record.containerId.slice(0, 12);
    return {
      containerId: record.containerId, containerName: record.name, netnsPath: record.netnsPath, ports,
      endpoints: endpoints.map((e) => ({
        network: e.network, interfaceName: e.interfaceName, ip: e.ip,
        aliases: [...new Set([record.name, ...e.aliases, shortId].filter(Boolean))],
      })),
    };
  }
}

/** Returns once aardvark-dns answers the container's name on each DNS-enabled network it joined (at most ~3 s). */
async function dnsReady(endpoints: Endpoint[], networks: NetworkRecord[], name: string): Promise<void> {
  await Promise.all(endpoints.map(async (endpoint) => {
    if (networks.find((n) => n.id === endpoint.networkId)?.dnsEnabled && name) await waitForDns(endpoint.gateway, name);
  }));
}

async function createNetns(netnsPath: string): Promise<void> {
  const name = netnsPath.replace('/run/netns/', '');
  if (await exists(netnsPath)) await ipQuiet(['netns', 'delete', name]);
  const made = await ipQuiet(['netns', 'add', name]);
  if (made.code !== 0) throw new BuildError('SANDBOX_FAILED', `cannot create network namespace ${name}: ${made.stderr.trim()}`);
}

/** netavark deletes a bridge with its last veth; a teardown that failed half-way may not have. */
async function removeIdleBridges(table: AttachmentTable, networks: NetworkRecord[]): Promise<void> {
  for (const network of networks) {
    if (usersOf(table, network.id).length === 0) await ipQuiet(['link', 'delete', network.bridge]).catch(() => undefined);
  }
}

function toEndpoint(endpoint: EndpointRecord): Endpoint {
  return {
    network: endpoint.network.name, networkId: endpoint.network.id, endpointId: endpoint.endpointId, ipAddress: endpoint.ip,
    ipPrefixLen: parseCidr(endpoint.network.subnet).prefix, gateway: endpoint.network.gateway, macAddress: endpoint.macAddress,
    aliases: endpoint.aliases,
  };
}

function toAttachment(record: AttachmentRecord): Attachment {
  const first = record.endpoints[0];
  // User networks answer names through aardvark-dns on the gateway; the default bridge and `none` use the host's servers.
  const dnsNetworks = record.endpoints.filter((e) => e.network.dnsEnabled);
  const host = hostDns();
  return {
    netnsPath: record.netnsPath,
    endpoints: record.endpoints.map(toEndpoint),
    ports: record.ports,
    dnsServers: dnsNetworks.length > 0 ? dnsNetworks.map((e) => e.network.gateway) : first ? host.servers : [],
    searchDomains: dnsNetworks.length > 0 ? [] : host.search,
  };
}
