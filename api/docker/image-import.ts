/**
 * `docker import` (POST /images/create?fromSrc=…): `-` is the request body, anything else a URL the daemon fetches
 * (moby's ImportImage: no scheme means http://, a non-2xx answer is an error with the status and body, the progress
 * is `Downloading from URL` then `Importing` messages, the history comment `Imported from URL`).
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage } from '../../builder/errors.js';
import { withBuildLease } from '../../builder/store/gc-lease.js';
import type { DaemonContext } from './daemon-context.js';
import { DockerApiError, badRequest } from './errors.js';
import { queryString } from './images-query.js';
import { JsonStream } from './json-stream.js';
import { tooLarge, receiveBodyToFile } from './request-body.js';

type Query = Record<string, string | string[] | undefined>;

/** moby's rule: a source without `://` is a host (and path) reached over plain http. */
export function importUrl(fromSrc: string): URL {
  const text = fromSrc.includes('://') ? fromSrc : `http://${fromSrc}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badRequest(`invalid import source ${JSON.stringify(fromSrc)}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest(`unsupported import source scheme ${url.protocol.slice(0, -1)} (http and https only)`);
  return url;
}

/** go-units HumanSize with docker's progress bar, as `Importing` lines carry it. */
function progressLine(current: number, total: number): string {
  const size = (n: number): string => {
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let value = n;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
    return `${Number(value.toPrecision(4))}${units[unit]}`;
  };
  if (total <= 0) return size(current);
  const filled = Math.min(50, Math.floor((current / total) * 100) >> 1);
  return `[${'='.repeat(filled)}>${' '.repeat(50 - filled)}]  ${size(current)}/${size(total)}`;
}

/** GET through node:http(s) (fetch refuses the "bad ports" of the fetch spec), following up to 10 redirects. */
function get(url: URL, signal: AbortSignal, redirects = 10): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).get(url, { signal }, (response) => {
      const location = response.headers.location;
      if (response.statusCode && response.statusCode >= 300 && response.statusCode < 400 && location && redirects > 0) {
        response.resume();
        resolve(get(new URL(location, url), signal, redirects - 1));
        return;
      }
      resolve(response);
    });
    request.on('error', (err) => {
      // Go's wording for the common case, which scripts match on.
      const refused = (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
      const port = url.port || (url.protocol === 'https:' ? '443' : '80');
      const reason = refused ? `dial tcp ${url.hostname}:${port}: connect: connection refused` : errorMessage(err);
      reject(new DockerApiError(500, `Get "${url.href}": ${reason}`));
    });
  });
}

async function text(response: http.IncomingMessage, max: number): Promise<string> {
  let body = '';
  for await (const chunk of response) {
    if (body.length < max) body += (chunk as Buffer).toString('utf8');
  }
  return body.slice(0, max);
}

/**
 * Fetches `url` into `file`, bounded by `limit` bytes; errors are moby's wording and status. `onProgress` hears the
 * start (current 0) and the bytes so far, at most once per MiB and once at the end. Also `builder import URL`'s.
 */
export async function fetchToFile(
  url: URL, file: string, limit: number, signal: AbortSignal, onProgress: (current: number, total: number) => void,
): Promise<void> {
  const response = await get(url, signal);
  const status = response.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    throw new DockerApiError(status === 404 ? 404 : 500, `failed to GET ${url.href} with status ${status} ${response.statusMessage ?? ''}: ${await text(response, 1000)}`);
  }
  const total = Number(response.headers['content-length'] ?? -1);
  if (total > limit) {
    response.destroy();
    throw tooLarge(limit);
  }
  onProgress(0, total);
  let current = 0;
  let reported = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      current += chunk.length;
      if (current > limit) return callback(tooLarge(limit));
      // At most one progress line per MiB (moby's reader writes one per 512 KiB read; the CLI redraws in place).
      if (current - reported >= 1 << 20) {
        reported = current;
        onProgress(current, total);
      }
      callback(null, chunk);
    },
  });
  await pipeline(response, counter, createWriteStream(file, { mode: 0o600 }));
  onProgress(current, total > 0 ? total : current);
}

/** The download as docker's JSON messages: `Downloading from URL`, then `Importing` with a progress bar. */
async function download(url: URL, file: string, limit: number, stream: JsonStream): Promise<void> {
  await fetchToFile(url, file, limit, stream.signal, (current, total) => {
    if (current === 0) stream.write({ status: `Downloading from ${url.href}` });
    else stream.write({ status: 'Importing', progressDetail: { current, total }, progress: progressLine(current, total) });
  });
}

/** One `{"status": "sha256:…"}` line answers with the new id (after the download's progress, for a URL). */
export async function importRoute(ctx: DaemonContext, request: FastifyRequest, reply: FastifyReply, fromSrc: string): Promise<void> {
  const query = request.query as Query;
  const { queryList, referenceOf } = await import('./container-changes.js');
  const reference = referenceOf(query);
  const url = fromSrc === '-' ? undefined : importUrl(fromSrc);
  const archive = ctx.store.tempPath('daemon-import');
  const options = {
    reference, changes: queryList(query, 'changes'), platform: queryString(query, 'platform') || undefined,
    message: queryString(query, 'message') || (url ? `Imported from ${url.href}` : undefined),
  };
  const store = async (): Promise<string> => {
    const { importRootfs } = await import('../../builder/store/import-rootfs.js');
    const result = await withBuildLease(ctx.store.root, () => importRootfs(ctx.store, archive, options));
    ctx.events.publish('image', 'import', result.Id, { name: reference ?? result.Id });
    return result.Id;
  };
  try {
    if (url) {
      request.raw.resume(); // the CLI sends no body with a URL; anything sent is not ours to read
      const stream = new JsonStream(request, reply);
      // A failed GET before the first message is a plain HTTP error (dockerd's 404 for a missing file).
      await stream.run(async () => {
        await download(url, archive, ctx.maxBodyBytes, stream);
        stream.write({ status: await store() });
      });
      return;
    }
    await receiveBodyToFile(request, archive, ctx.maxBodyBytes);
    const id = await store();
    const stream = new JsonStream(request, reply);
    await stream.run(async () => { stream.write({ status: id }); });
  } finally {
    await rm(archive, { force: true });
  }
}
