/**
 * docker's `-p/--publish` syntax, `[IP:][HOST:]CONTAINER[/PROTO]` with ranges, and its error texts
 * (moby's go-connections nat.ParsePortSpec). Only IPv4 host addresses: builder's networks are IPv4.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { BuildError } from '../errors.js';
import type { PortBinding } from './types.js';

/** docker's default host IP when `-p` names none. */
export const DEFAULT_HOST_IP = '0.0.0.0';

/**
 * One binding per container port. `-p 8000-8010:80` (a host range for one container port) gives one
 * binding with hostPort 8000 and hostPortEnd 8010: attach picks the first free port of the range, as docker.
 */
export function parsePublish(spec: string): PortBinding[] {
  const fail = (message: string): never => { throw new BuildError('INVALID_ARGUMENT', message); };
  const { ip: rawIp, hostPort, containerPart } = splitParts(spec);
  const { proto, port: containerPort } = splitProtoPort(containerPart);
  let hostIp = rawIp;
  if (hostIp.startsWith('[')) {
    if (!hostIp.endsWith(']')) fail(`invalid IP address ${hostIp}: missing ']' in address`);
    hostIp = hostIp.slice(1, -1);
  }
  if (hostIp !== '' && !isIPv4(hostIp) && !isIPv6(hostIp)) fail(`invalid IP address: ${hostIp}`);
  // netavark forwards a host IPv6 address only into a network with an IPv6 subnet, and never from ::1 (IPv6 has no
  // route_localnet to DNAT loopback traffic out of the host; docker uses its userland docker-proxy for that).
  if (isIPv6(hostIp)) {
    throw new BuildError('NOT_SUPPORTED', `cannot publish on IPv6 address [${hostIp}]: builder networks are IPv4 only; publish on 127.0.0.1 or 0.0.0.0`);
  }
  if (containerPort === '') fail(`no port specified: ${spec}<empty>`);
  const container = parseRange(containerPort, 1);
  if (!container) return fail(`invalid containerPort: ${containerPort}`);
  const host = hostPort === '' ? { start: 0, end: 0 } : parseRange(hostPort, 0);
  if (!host) return fail(`invalid hostPort: ${hostPort}`);
  const containerCount = container.end - container.start;
  const hostCount = host.end - host.start;
  if (hostPort !== '' && containerCount !== hostCount && containerCount !== 0) {
    fail(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
  }
  const protocol = proto.toLowerCase();
  if (protocol === 'sctp') throw new BuildError('NOT_SUPPORTED', `invalid proto: ${proto}: builder publishes tcp and udp only`);
  if (protocol !== 'tcp' && protocol !== 'udp') fail(`invalid proto: ${proto}`);
  const bindings: PortBinding[] = [];
  for (let offset = 0; offset <= containerCount; offset++) {
    const binding: PortBinding = {
      hostIp: hostIp === '' ? DEFAULT_HOST_IP : hostIp,
      hostPort: host.start === 0 ? 0 : containerCount === 0 ? host.start : host.start + offset,
      containerPort: container.start + offset,
      protocol: protocol as 'tcp' | 'udp',
    };
    if (containerCount === 0 && hostCount > 0) binding.hostPortEnd = host.end;
    bindings.push(binding);
  }
  return bindings;
}

/** docker's `-P`: every EXPOSEd port (`80/tcp`, `53/udp`, `8080`) on a free host port of 0.0.0.0. */
export function publishAll(exposedPorts: Iterable<string>): PortBinding[] {
  return [...exposedPorts].flatMap((exposed) => parsePublish(exposed));
}

/** docker's `port` / ps PORTS text: `127.0.0.1:8080->80/tcp`. */
export function formatBinding(binding: PortBinding): string {
  return `${binding.hostIp}:${binding.hostPort}->${binding.containerPort}/${binding.protocol}`;
}

function splitParts(spec: string): { ip: string; hostPort: string; containerPart: string } {
  const parts = spec.split(':');
  const n = parts.length;
  const containerPart = parts[n - 1]!;
  if (n === 1) return { ip: '', hostPort: '', containerPart };
  if (n === 2) return { ip: '', hostPort: parts[0]!, containerPart };
  return { ip: parts.slice(0, n - 2).join(':'), hostPort: parts[n - 2]!, containerPart };
}

function splitProtoPort(text: string): { proto: string; port: string } {
  const parts = text.split('/');
  if (parts[0] === '') return { proto: '', port: '' };
  if (parts.length === 1 || parts[1] === '') return { proto: 'tcp', port: parts[0]! };
  return { proto: parts[1]!, port: parts[0]! };
}

function parseRange(text: string, min: number): { start: number; end: number } | undefined {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = match[2] === undefined ? start : Number(match[2]);
  if (start < min || end > 65535 || end < start) return undefined;
  return { start, end };
}
