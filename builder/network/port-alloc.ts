/**
 * Host ports for `-p`. Forwarding is DNAT (netavark), which holds no socket, so a port counts as taken when
 * another builder container publishes it (the attachment table, read under the networks lock) or when a
 * host process has it bound (a test bind on the exact address). hostPort 0 asks the kernel for a free port.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { BuildError } from '../errors.js';
import type { AttachmentTable } from './attachments.js';
import type { PortBinding } from './types.js';

function overlaps(a: PortBinding, b: PortBinding): boolean {
  if (a.protocol !== b.protocol || a.hostPort !== b.hostPort) return false;
  return a.hostIp === b.hostIp || a.hostIp === '0.0.0.0' || b.hostIp === '0.0.0.0';
}

/** Binds and releases; resolves the bound port, or undefined when the address is in use. */
function probe(hostIp: string, port: number, protocol: 'tcp' | 'udp'): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(undefined);
      else if (err.code === 'EADDRNOTAVAIL') reject(new BuildError('INVALID_ARGUMENT', `cannot publish on ${hostIp}: the address is not on this host`));
      else reject(new BuildError('INTERNAL', `cannot check host port ${hostIp}:${port}: ${err.message}`));
    };
    if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', fail);
      socket.bind({ address: hostIp, port, exclusive: true }, () => {
        const bound = socket.address().port;
        socket.close(() => resolve(bound));
      });
      return;
    }
    const server = createServer();
    server.once('error', fail);
    server.listen({ host: hostIp, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(bound));
    });
  });
}

function inUse(binding: PortBinding): BuildError {
  return new BuildError('PORT_IN_USE', `Bind for ${binding.hostIp}:${binding.hostPort} failed: port is already allocated`);
}

/**
 * Resolves every binding to a concrete free host port, or throws PORT_IN_USE naming the first clash.
 * Call under the networks lock, so two attaches never both take one port.
 */
export async function allocatePorts(table: AttachmentTable, requested: PortBinding[], self?: string): Promise<PortBinding[]> {
  const taken: PortBinding[] = Object.values(table.containers)
    .filter((r) => r.containerId !== self)
    .flatMap((r) => r.ports);
  const resolved: PortBinding[] = [];
  const isFree = async (candidate: PortBinding): Promise<boolean> =>
    ![...taken, ...resolved].some((t) => overlaps(t, candidate)) && (await probe(candidate.hostIp, candidate.hostPort, candidate.protocol)) !== undefined;
  for (const binding of requested) {
    const { hostPortEnd, ...plain } = binding;
    if (plain.hostPort === 0) {
      resolved.push({ ...plain, hostPort: await ephemeralPort(plain, [...taken, ...resolved]) });
      continue;
    }
    const last = hostPortEnd ?? plain.hostPort;
    let chosen: PortBinding | undefined;
    for (let port = plain.hostPort; port <= last && !chosen; port++) {
      const candidate = { ...plain, hostPort: port };
      if (await isFree(candidate)) chosen = candidate;
    }
    if (!chosen) throw inUse(hostPortEnd === undefined ? plain : { ...plain, hostPort: plain.hostPort });
    resolved.push(chosen);
  }
  return resolved;
}

async function ephemeralPort(binding: PortBinding, taken: PortBinding[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await probe(binding.hostIp, 0, binding.protocol);
    if (port !== undefined && !taken.some((t) => overlaps(t, { ...binding, hostPort: port }))) return port;
  }
  throw new BuildError('PORT_IN_USE', `no free host port on ${binding.hostIp} for ${binding.containerPort}/${binding.protocol}`);
}
