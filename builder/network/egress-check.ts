/**
 * The build network's policy for fetches the engine makes itself on a build's behalf (ADD <url>, ADD <git url>):
 * they run in the worker's own network, outside the RUN netns and its firewall, so the same rule is checked
 * here before each connection. Without it a farm build could `ADD http://127.0.0.1:6379/…` and talk to the
 * farm's Redis from the worker (issue 14). Residual risk, documented in docs/SECURITY.md: the name is resolved
 * here and again by the HTTP client (a DNS answer that changes in between is not caught).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import os from 'node:os';
import { BuildError, errorMessage } from '../errors.js';
import { BUILTIN_DENY, type BuildNetworkPolicy } from './build-network.js';
import { cidrContains, parseCidr, parseIpv4 } from './ipv4.js';

/** IPv6 ranges that are this host or its link: loopback, link-local, unique-local. */
const DENIED_V6 = [/^::1$/, /^::$/, /^fe[89ab][0-9a-f]:/i, /^f[cd][0-9a-f]{2}:/i];

/** Why `address` may not be reached under `policy`, or undefined when it may. */
export function deniedReason(address: string, policy: BuildNetworkPolicy, ownAddresses: readonly string[] = hostAddresses()): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const v4 = parseIpv4(mapped ?? address);
  if (ownAddresses.includes(mapped ?? address)) return 'it is an address of this host';
  if (v4 === undefined) return DENIED_V6.some((re) => re.test(address)) ? 'it is a loopback or link-local address' : undefined;
  if (cidrContains(parseCidr('127.0.0.0/8'), v4)) return 'it is a loopback address';
  if (policy.allowCidrs.some((cidr) => cidrContains(parseCidr(cidr), v4))) return undefined;
  const denied = [...BUILTIN_DENY, ...policy.denyCidrs].find((cidr) => cidrContains(parseCidr(cidr), v4));
  return denied ? `it is in ${denied}, which the build network refuses` : undefined;
}

/** Throws unless every address `host` resolves to may be reached (an unresolvable name is left to the fetch). */
export async function checkEgress(url: string, policy: BuildNetworkPolicy, what: string): Promise<void> {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return; // not a URL (scp-style git): the git policy and the fetch report it
  }
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTFOUND') return;
    throw new BuildError('COPY_SOURCE_MISSING', `${what} failed: cannot resolve ${host}: ${errorMessage(err)}`, { cause: err });
  }
  for (const address of addresses) {
    const reason = deniedReason(address, policy);
    if (reason) {
      const hint = reason.includes('build network refuses') ? ' (allow it with [worker] allow_cidrs)' : '';
      throw new BuildError('INVALID_ARGUMENT', `${what} failed: ${url} (${address}) is refused by the build network policy: ${reason}${hint}`);
    }
  }
}

function hostAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address));
}
