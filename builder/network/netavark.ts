/**
 * netavark (podman's network stack, Debian's 1.4) does the kernel work: bridge, veth, addresses, NAT,
 * port forwarding (iptables, here on nf_tables) and DNS through aardvark-dns. We hand it the network
 * definitions and the addresses IPAM allocated; it reads them as JSON on stdin (netavark's
 * NetworkOptions) and prints one status block per network.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, constants as fsConstants, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import type { NetworkRecord } from './network-record.js';
import type { PortBinding } from './types.js';

const SEARCH_DIRS = ['/usr/lib/podman', '/usr/libexec/podman', '/usr/local/libexec/podman', '/usr/local/lib/podman'];

export interface NetavarkEndpoint {
  network: NetworkRecord;
  interfaceName: string;
  ip: string;
  aliases: string[];
}

export interface NetavarkRequest {
  containerId: string;
  containerName: string;
  netnsPath: string;
  endpoints: NetavarkEndpoint[];
  ports: PortBinding[];
}

/** netavark's per-network answer (keyed by network id). */
export interface NetavarkStatus {
  dns_search_domains?: string[];
  dns_server_ips?: string[];
  interfaces?: Record<string, { mac_address: string; subnets?: { ipnet: string; gateway?: string }[] }>;
}

let binaries: Promise<{ netavark: string; aardvark: string }> | undefined;

async function findBinary(name: string): Promise<string | undefined> {
  const dirs = [...SEARCH_DIRS, ...(process.env.PATH ?? '').split(':').filter(Boolean)];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (await access(candidate, fsConstants.X_OK).then(() => true, () => false)) return candidate;
  }
  return undefined;
}

/** Resolves netavark and aardvark-dns once; a clear error says what to install. */
export function netavarkBinaries(): Promise<{ netavark: string; aardvark: string }> {
  binaries ??= (async () => {
    if (process.getuid?.() !== 0) throw new BuildError('NOT_ROOT', 'builder needs root to set up container networks (netavark)');
    const [netavark, aardvark] = await Promise.all([findBinary('netavark'), findBinary('aardvark-dns')]);
    if (!netavark || !aardvark) {
      throw new BuildError('NOT_SUPPORTED', 'container networks need netavark and aardvark-dns: apt-get install netavark aardvark-dns');
    }
    return { netavark, aardvark };
  })();
  binaries.catch(() => { binaries = undefined; });
  return binaries;
}

/**
 * aardvark-dns keeps its name tables here. On tmpfs (/run), so a reboot forgets them together with the
 * netns files; one dir per store root, so two stores on one machine never share a DNS table.
 */
export function netavarkConfigDir(root: string): string {
  return path.join('/run/builder-netavark', createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 16));
}

function options(request: NetavarkRequest): string {
  const networks: Record<string, unknown> = {};
  const networkInfo: Record<string, unknown> = {};
  for (const endpoint of request.endpoints) {
    const net = endpoint.network;
    // Keyed by id, not name: netavark names its iptables chains and DNS tables after this key, and two
    // stores on one machine may both have a network called "app".
    networks[net.id] = { static_ips: [endpoint.ip], aliases: endpoint.aliases, interface_name: endpoint.interfaceName };
    networkInfo[net.id] = {
      name: net.id, id: net.id, driver: 'bridge', network_interface: net.bridge, created: net.created,
      subnets: [{ subnet: net.subnet, gateway: net.gateway }], ipv6_enabled: false, internal: net.internal,
      dns_enabled: net.dnsEnabled, ipam_options: { driver: 'host-local' },
    };
  }
  return JSON.stringify({
    container_id: request.containerId,
    container_name: request.containerName,
    port_mappings: request.ports.map((p) => ({ host_ip: p.hostIp === '0.0.0.0' ? '' : p.hostIp, container_port: p.containerPort, host_port: p.hostPort, range: 1, protocol: p.protocol })),
    networks,
    network_info: networkInfo,
  });
}

function run(binary: string, args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', (err) => reject(new BuildError('SANDBOX_FAILED', `cannot run netavark: ${err.message}`, { cause: err })));
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** netavark prints `{"error": "..."}` on failure. */
function failureText(result: { stdout: string; stderr: string }): string {
  for (const text of [result.stdout, result.stderr]) {
    try {
      const parsed = JSON.parse(text) as { error?: string };
      if (parsed.error) return parsed.error;
    } catch {
      // Not JSON: fall through to the raw text.
    }
  }
  return (result.stderr || result.stdout).trim().slice(0, 500);
}

export async function netavarkSetup(root: string, request: NetavarkRequest): Promise<Record<string, NetavarkStatus>> {
  const { netavark, aardvark } = await netavarkBinaries();
  const configDir = netavarkConfigDir(root);
  // netavark fails half-way (rules made, DNS not) when the aardvark dir's parent is missing.
  await mkdir(configDir, { recursive: true });
  const result = await run(netavark, ['--config', configDir, '--aardvark-binary', aardvark, 'setup', request.netnsPath], options(request));
  if (result.code !== 0) {
    throw new BuildError('SANDBOX_FAILED', `setting up the container network failed: ${failureText(result)}`);
  }
  try {
    return JSON.parse(result.stdout) as Record<string, NetavarkStatus>;
  } catch {
    throw new BuildError('SANDBOX_FAILED', `netavark printed an unreadable status: ${result.stdout.slice(0, 200)}`);
  }
}

/** Best effort by design: teardown runs after crashes, when parts are already gone. Returns netavark's complaint, if any. */
export async function netavarkTeardown(root: string, request: NetavarkRequest): Promise<string | undefined> {
  const { netavark, aardvark } = await netavarkBinaries();
  const configDir = netavarkConfigDir(root);
  await mkdir(configDir, { recursive: true });
  const result = await run(netavark, ['--config', configDir, '--aardvark-binary', aardvark, 'teardown', request.netnsPath], options(request));
  return result.code === 0 ? undefined : failureText(result);
}

/** `ip …` quietly: used for netns files and leftover bridges, where "already gone" is success. */
export function ipQuiet(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ip', args, (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }));
  });
}
