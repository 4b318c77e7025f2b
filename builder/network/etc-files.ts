/** The container's /etc/resolv.conf and /etc/hosts, rendered from an Attachment (docker's layout). */
import { readFileSync } from 'node:fs';
import type { Attachment } from './types.js';

/** docker's fallback when the host only has a loopback resolver (systemd-resolved's 127.0.0.53), unreachable from a netns. */
const FALLBACK_SERVERS = ['8.8.8.8', '8.8.4.4'];

/** The host's resolvers a container can use: loopback ones dropped, as docker and BuildKit do. */
export function hostDns(resolvConf = '/etc/resolv.conf'): { servers: string[]; search: string[]; options: string[] } {
  let text = '';
  try {
    text = readFileSync(resolvConf, 'utf8');
  } catch {
    // No resolv.conf: fall back below.
  }
  const servers: string[] = [];
  let search: string[] = [];
  const options: string[] = [];
  for (const line of text.split('\n')) {
    const [keyword, ...values] = line.trim().split(/\s+/);
    if (keyword === 'nameserver' && values[0] && !/^(127\.|::1$)/.test(values[0])) servers.push(values[0]);
    else if (keyword === 'search' || keyword === 'domain') search = values;
    else if (keyword === 'options') options.push(...values);
  }
  return { servers: servers.length > 0 ? servers : FALLBACK_SERVERS, search, options };
}

export function renderResolvConf(attachment: Pick<Attachment, 'dnsServers' | 'searchDomains'>, extraOptions: string[] = []): string {
  const lines = attachment.dnsServers.map((server) => `nameserver ${server}`);
  if (attachment.searchDomains.length > 0) lines.push(`search ${attachment.searchDomains.join(' ')}`);
  if (extraOptions.length > 0) lines.push(`options ${extraOptions.join(' ')}`);
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** docker's /etc/hosts: localhost lines, then this container's own address(es) with its hostname, then --add-host entries. */
export function renderHosts(attachment: Pick<Attachment, 'endpoints'>, hostname: string, extraHosts: { host: string; ip: string }[] = []): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const extra of extraHosts) lines.push(`${extra.ip}\t${extra.host}`);
  const own = attachment.endpoints.map((e) => e.ipAddress);
  if (own.length === 0) lines[0] = `127.0.0.1\tlocalhost ${hostname}`;
  for (const ip of own) lines.push(`${ip}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}
