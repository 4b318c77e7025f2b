import { copyFileSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveInRoot } from '../context/root-path.js';
import type { RuntimeMount } from './spec.js';

const ETC_FILES = ['hosts', 'hostname', 'resolv.conf'] as const;

/** What a long-running container adds: `--add-host`, its own address, the network's DNS servers. */
export interface EtcExtras {
  /** `name:ip` entries, docker's ExtraHosts. */
  extraHosts?: string[];
  /** The container's address on its first network (hosts gets `ip hostname`). */
  ipAddress?: string;
  /** nameserver lines instead of the host's resolv.conf (user networks' DNS). */
  dnsServers?: string[];
  searchDomains?: string[];
  /** `options` of resolv.conf (`--dns-option ndots:2`), replacing the host's when its file is copied. */
  dnsOptions?: string[];
  /** A long-lived container may get the files created in its own upperdir (a build layer must not). */
  createMissing?: boolean;
}

/**
 * Writes this container's /etc/hosts, /etc/hostname and /etc/resolv.conf into the bundle dir and
 * returns the bind mounts that put them in place. The sandbox must never change the build layer:
 * - the file exists in the rootfs (following symlinks inside it): bind over it, nothing is written;
 * - /etc itself is missing: runc creates /etc and an empty stub, which recordMountStubs removes after
 *   the run, leaving the overlay upperdir clean (nothing there hides a lower entry);
 * - /etc exists but the file does not: skipped, because creating the stub would copy /etc up into the
 *   upperdir. Base images should ship (empty) /etc/hosts and /etc/resolv.conf, as docker images do.
 * Direct (sync) file calls: a dozen tiny ones on every RUN's path, each a thread-pool round trip otherwise.
 */
export async function prepareEtcFiles(
  bundleDir: string,
  rootfs: string,
  hostname: string,
  network: 'host' | 'none',
  extra: EtcExtras = {},
): Promise<RuntimeMount[]> {
  const root = path.resolve(rootfs);
  const etcExists = await isKind(await resolveInRoot(root, '/etc'), 'dir');
  const mounts = await Promise.all(ETC_FILES.map(async (name): Promise<RuntimeMount | undefined> => {
    let destination: string;
    if (!etcExists) {
      destination = `/etc/${name}`;
    } else {
      const resolved = await resolveInRoot(root, `/etc/${name}`);
      if (await isKind(resolved, 'file')) destination = '/' + path.relative(root, resolved);
      else if (extra.createMissing && !lstatSync(resolved, { throwIfNoEntry: false })) destination = `/etc/${name}`;
      else return undefined;
    }
    const source = path.join(bundleDir, name);
    writeEtcFile(source, name, hostname, network, extra);
    return { destination, type: 'bind', source, options: ['rbind', 'rprivate'] };
  }));
  return mounts.filter((mount): mount is RuntimeMount => mount !== undefined);
}

function writeEtcFile(
  source: string, name: (typeof ETC_FILES)[number], hostname: string, network: 'host' | 'none', extra: EtcExtras,
): void {
  if (name === 'hostname') return writeFileSync(source, `${hostname}\n`);
  if (name === 'hosts') {
    const own = extra.ipAddress ? `${extra.ipAddress}\t${hostname}\n` : '';
    const added = (extra.extraHosts ?? []).map((entry) => {
      const at = entry.indexOf(':');
      return `${entry.slice(at + 1)}\t${entry.slice(0, at)}\n`;
    }).join('');
    const loopbackName = extra.ipAddress ? '' : ` ${hostname}`;
    return writeFileSync(source, `127.0.0.1\tlocalhost${loopbackName}\n::1\tlocalhost ip6-localhost ip6-loopback\n${own}${added}`);
  }
  const options = extra.dnsOptions && extra.dnsOptions.length > 0 ? `options ${extra.dnsOptions.join(' ')}\n` : '';
  if (extra.dnsServers && extra.dnsServers.length > 0) {
    const search = extra.searchDomains && extra.searchDomains.length > 0 ? `search ${extra.searchDomains.join(' ')}\n` : '';
    return writeFileSync(source, `${search}${extra.dnsServers.map((server) => `nameserver ${server}\n`).join('')}${options}`);
  }
  // With no network there is nothing to ask; with host network the host's resolver config applies.
  if (network === 'none') return writeFileSync(source, options);
  try {
    copyFileSync('/etc/resolv.conf', source);
    if (options) {
      const kept = readFileSync(source, 'utf8').split('\n').filter((line) => line !== '' && !/^\s*options\s/.test(line));
      writeFileSync(source, `${kept.map((line) => `${line}\n`).join('')}${options}`);
    }
  } catch {
    writeFileSync(source, options);
  }
}

async function isKind(file: string, kind: 'file' | 'dir'): Promise<boolean> {
  try {
    const info = lstatSync(file);
    return kind === 'file' ? info.isFile() : info.isDirectory();
  } catch {
    return false;
  }
}
