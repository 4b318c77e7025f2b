/** IPv4 addresses as unsigned 32-bit numbers: enough arithmetic for subnets, gateways and IPAM. */
import { BuildError } from '../errors.js';

export interface Cidr {
  /** Network address (host bits cleared). */
  base: number;
  prefix: number;
}

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** `10.1.2.0/24`; host bits must be zero (docker refuses `10.1.2.3/24` as a subnet too). */
export function parseCidr(text: string): Cidr {
  const [address, prefixText, extra] = text.split('/');
  const ip = address === undefined ? undefined : parseIpv4(address);
  const prefix = prefixText !== undefined && /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (ip === undefined || extra !== undefined || !(prefix >= 0 && prefix <= 32)) {
    throw new BuildError('INVALID_ARGUMENT', `invalid CIDR address: ${text}`);
  }
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0) throw new BuildError('INVALID_ARGUMENT', `invalid subnet ${text}: it should be ${formatIpv4(ip - (ip % size))}/${prefix}`);
  return { base: ip, prefix };
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.base && ip < cidr.base + 2 ** (32 - cidr.prefix);
}

export function subnetsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.base) || cidrContains(b, a.base);
}
