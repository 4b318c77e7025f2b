/**
 * `builder diff | commit | export | import | history | update`: the same container service and store code that
 * `builder daemon` serves for the docker CLI (one implementation, two front doors), printed as docker prints it.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Containers } from '../containers/service.js';
import type { UpdateBody } from '../containers/update.js';
import { BuildError } from '../errors.js';
import { normalizeTag } from '../image/reference.js';
import { humanDuration } from '../containers/inspect.js';
import { Store } from '../store/store.js';
import { withBuildLease } from '../store/gc-lease.js';
import { parseRestart } from './container-flags.js';
import { formatTable } from './table.js';
import { humanSize, mustResolve } from './images.js';
import { parseCpus, parsePositiveInt, parseSize, type GlobalOptions } from './options.js';

const KIND = ['C', 'A', 'D'] as const;

export async function diffCommand(ref: string, global: GlobalOptions): Promise<number> {
  const changes = await (await Containers.open(global.root)).changes(ref);
  for (const change of changes) process.stdout.write(`${KIND[change.Kind]} ${change.Path}\n`);
  return 0;
}

export async function commitCommand(
  ref: string, reference: string | undefined, opts: { change: string[]; message?: string; author?: string; pause?: boolean }, global: GlobalOptions,
): Promise<number> {
  const service = await Containers.open(global.root);
  const { Id } = await service.commit(ref, {
    reference: reference ? normalizeTag(reference) : undefined, changes: opts.change, comment: opts.message, author: opts.author, pause: opts.pause !== false,
  });
  process.stdout.write(`${Id}\n`);
  return 0;
}

export async function exportCommand(ref: string, opts: { output?: string }, global: GlobalOptions): Promise<number> {
  if (!opts.output && process.stdout.isTTY) {
    throw new BuildError('INVALID_ARGUMENT', 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  const tar = await (await Containers.open(global.root)).export(ref);
  if (!opts.output) {
    await pipeline(tar, process.stdout);
    return 0;
  }
  try {
    await pipeline(tar, createWriteStream(opts.output));
  } catch (err) {
    await rm(opts.output, { force: true });
    throw err;
  }
  return 0;
}

export async function importCommand(
  file: string, reference: string | undefined, opts: { change: string[]; message?: string; platform?: string }, global: GlobalOptions,
): Promise<number> {
  const store = await Store.open(global.root);
  const { importRootfs } = await import('../store/import-rootfs.js');
  // `-` is stdin, an http(s) URL is fetched (as `docker import URL`): both spooled to a file first, as the daemon
  // does with the request body (the archive is read twice).
  const url = /^https?:\/\//i.test(file) ? new URL(file) : undefined;
  const spooled = file === '-' || url !== undefined;
  const archive = spooled ? store.tempPath('import-stdin') : file;
  try {
    if (url) {
      const { fetchToFile } = await import('../../api/docker/image-import.js');
      process.stderr.write(`Downloading from ${url.href}\n`);
      await fetchToFile(url, archive, Number.MAX_SAFE_INTEGER, new AbortController().signal, () => undefined);
    } else if (file === '-') {
      await pipeline(Readable.from(process.stdin), createWriteStream(archive, { mode: 0o600 }));
    }
    const { Id } = await withBuildLease(store.root, () => importRootfs(store, archive, {
      reference: reference ? normalizeTag(reference) : undefined, changes: opts.change,
      message: opts.message || (url ? `Imported from ${url.href}` : undefined), platform: opts.platform,
    }));
    process.stdout.write(`${Id}\n`);
  } finally {
    if (spooled) await rm(archive, { force: true });
  }
  return 0;
}

export async function historyCommand(name: string, opts: { quiet?: boolean; noTrunc?: boolean }, global: GlobalOptions): Promise<number> {
  const store = await Store.open(global.root);
  const image = await mustResolve(store, name);
  const { imageHistory } = await import('../../api/docker/image-shapes.js');
  const rows = imageHistory(image, []);
  const short = (id: string): string => (id === '<missing>' || opts.noTrunc ? id : id.replace(/^sha256:/, '').slice(0, 12));
  if (opts.quiet) {
    for (const row of rows) process.stdout.write(`${short(String(row.Id))}\n`);
    return 0;
  }
  const table = [['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
  for (const row of rows) {
    const created = Number(row.Created);
    const createdBy = String(row.CreatedBy);
    table.push([
      short(String(row.Id)), created > 0 ? `${humanDuration(Date.now() - created * 1000)} ago` : 'N/A',
      opts.noTrunc || createdBy.length <= 45 ? createdBy : `${createdBy.slice(0, 44)}…`, humanSize(Number(row.Size)), String(row.Comment),
    ]);
  }
  process.stdout.write(formatTable(table));
  return 0;
}

export async function updateCommand(
  refs: string[], opts: { restart?: string; memory?: string; memorySwap?: string; cpus?: string; cpuShares?: string; pidsLimit?: string },
  global: GlobalOptions,
): Promise<number> {
  const cpus = parseCpus(opts.cpus);
  const body: UpdateBody = {
    ...(opts.restart ? { RestartPolicy: parseRestart(opts.restart) } : {}),
    Memory: parseSize(opts.memory) ?? 0, MemorySwap: parseSize(opts.memorySwap) ?? 0,
    NanoCpus: cpus ? Math.round(cpus * 1e9) : 0, CpuShares: parsePositiveInt(opts.cpuShares, '--cpu-shares') ?? 0,
    PidsLimit: parsePositiveInt(opts.pidsLimit, '--pids-limit') ?? 0,
  };
  const service = await Containers.open(global.root);
  let failed = false;
  for (const ref of refs) {
    try {
      for (const warning of (await service.update(ref, body)).Warnings) process.stderr.write(`WARNING: ${warning}\n`);
      process.stdout.write(`${ref}\n`);
    } catch (err) {
      failed = true;
      process.stderr.write(`ERROR: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  return failed ? 1 : 0;
}
