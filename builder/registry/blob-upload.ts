/**
 * Pushes one blob from the store: HEAD first (skip; a big blob the registry most likely lacks opens its session
 * beside the HEAD), then a cross-repository mount when we know another
 * repository of the same registry has it, else an upload: monolithic when small, chunked when large.
 * A dropped connection or a 5xx asks the registry how far it got and resumes there (or starts a new session).
 */
import { createReadStream } from 'node:fs';
import { BuildError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import type { RegistryClient } from './client.js';
import { backoffMs, sleep } from './http.js';

/** How a blob reached the registry. */
export type UploadOutcome = 'exists' | 'mounted' | 'uploaded';

/** Knobs of one blob upload. */
export interface UploadOptions {
  /** Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size. */
  chunkSize: number;
  /** Other repositories (same registry) that are known to hold the blob. */
  mountFrom: string[];
  /** Called as bytes are read into the request, with the blob offset reached (for progress bars). */
  onSent?: (offset: number) => void;
  /** Called with each chunk's byte count as the registry accepts it. */
  onBytes?: (bytes: number) => void;
  /** Called once an upload is unavoidable (no HEAD hit, no mount): brings a lazily cached blob into the store. */
  beforeUpload?: () => Promise<void>;
  /** Told what the first HEAD found: the blob's size in the target repository, or undefined (absent). */
  onHead?: (size: number | undefined) => void;
  /**
   * Open the upload session beside the HEAD instead of after it (push.ts asks for big blobs this registry has never
   * been seen to hold). A HEAD that finds the blob after all costs a DELETE of the session.
   */
  earlySession?: boolean;
}

// One PUT per blob up to 1 GiB: measured on the 208 MB bench layer, one PUT took 660–730 ms where 64 MiB PATCHes took
// 770–940 ms (each chunk is a round trip and a hash-state save in the registry). A dropped PUT still resumes: the
// registry keeps what it received and uploadOffset() asks for it.
export const DEFAULT_CHUNK_SIZE = 1024 * 1024 * 1024;
const UPLOAD_FAILURES_ALLOWED = 8;
/**
 * From this size push.ts opens a blob's session beside its HEAD (UploadOptions.earlySession). Smaller blobs are not
 * what a push waits for, and a session costs docker-registry 2.8 five fsyncs.
 */
export const EARLY_SESSION_FROM = 8 * 1024 * 1024;

/** Uploads the file at `blobPath` (whose content is `descriptor`) to the client's repository. */
export async function uploadBlob(client: RegistryClient, blobPath: string, descriptor: Descriptor, what: string, options: UploadOptions): Promise<UploadOutcome> {
  const from = options.mountFrom.find((repo) => repo !== client.repository);
  // The HEAD's round trip leaves the push's longest path; a mount still goes after the HEAD (it needs no session).
  const early = from === undefined && options.earlySession ? settle(client.startUpload(`${what} (starting the upload)`)) : undefined;
  let size: number | undefined;
  try {
    size = await client.headBlob(descriptor.digest, `${what} (checking whether it exists)`);
  } catch (err) {
    await cancelEarly(client, early, what);
    throw err;
  }
  options.onHead?.(size);
  if (size !== undefined) {
    await cancelEarly(client, early, what);
    return 'exists';
  }
  // When it cannot mount, the registry opens an ordinary upload session instead.
  const started = early
    ? unwrap(await early)
    : from === undefined
      ? await client.startUpload(`${what} (starting the upload)`)
      : await client.startUpload(`${what} (mounting from ${from})`, { digest: descriptor.digest, from });
  if (started === 'mounted') return 'mounted';
  await options.beforeUpload?.();
  let session: string = started;
  let offset = 0;
  let resumed = false;
  for (let failures = 0; ; ) {
    try {
      if (offset === 0 && descriptor.size <= options.chunkSize) {
        await putBlob(client, session, blobPath, descriptor, 0, what, options.onSent);
        options.onBytes?.(descriptor.size);
        return 'uploaded';
      }
      while (offset < descriptor.size) {
        const end = Math.min(offset + options.chunkSize, descriptor.size);
        session = await patchChunk(client, session, blobPath, offset, end, what, options.onSent);
        options.onBytes?.(end - offset);
        offset = end;
      }
      await putBlob(client, session, blobPath, descriptor, descriptor.size, what);
      return 'uploaded';
    } catch (err) {
      if (!(err instanceof BuildError) || ++failures > UPLOAD_FAILURES_ALLOWED) throw err;
      // After a resume the registry may reject what it assembled (a half-written request it kept, a session it lost):
      // then the only way on is a fresh session.
      const startOver = resumed && (err.code === 'INVALID_ARGUMENT' || err.code === 'REGISTRY_NOT_FOUND');
      if (!startOver && !isResumable(err)) throw err;
      resumed = true;
      await sleep(backoffMs(failures - 1), client.context.signal);
      const status: { offset: number; location: string } | undefined = startOver
        ? undefined
        : await client.uploadOffset(session, `${what} (checking the upload's progress)`).catch(() => undefined);
      if (status && status.offset <= descriptor.size) {
        session = status.location;
        offset = status.offset;
      } else {
        // The session is gone: perhaps because our last PUT did complete before the connection dropped.
        if ((await client.headBlob(descriptor.digest, `${what} (checking whether it arrived)`)) !== undefined) return 'uploaded';
        session = await client.startUpload(`${what} (restarting the upload)`);
        offset = 0;
      }
    }
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** A promise that never rejects, so an early session nobody awaits yet raises no unhandled rejection. */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
}

function unwrap<T>(settled: Settled<T>): T {
  if (!settled.ok) throw settled.error;
  return settled.value;
}

/** Drops an early session that is not needed (best effort: an abandoned session only expires in the registry). */
async function cancelEarly(client: RegistryClient, early: Promise<Settled<string>> | undefined, what: string): Promise<void> {
  const session = early ? await early : undefined;
  if (!session?.ok || session.value === 'mounted') return;
  await client.cancelUpload(session.value, `${what} (cancelling an upload it does not need)`).catch(() => undefined);
}

function isResumable(err: BuildError): boolean {
  // 416: our idea of the offset and the registry's differ; asking for the offset fixes that.
  return err.code === 'REGISTRY_UNAVAILABLE' || / HTTP 416\b/.test(err.message);
}

async function* fileStream(blobPath: string, start: number, end: number, onSent?: (offset: number) => void): AsyncIterable<Uint8Array> {
  // createReadStream's end is inclusive. fetch pulls the next chunk only when it has sent the last, so the offset read ≈ sent.
  let offset = start;
  for await (const chunk of createReadStream(blobPath, { start, end: end - 1, highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    yield chunk;
    offset += chunk.length;
    onSent?.(offset);
  }
}

async function patchChunk(
  client: RegistryClient, session: string, blobPath: string, start: number, end: number, what: string, onSent?: (offset: number) => void,
): Promise<string> {
  return client.send(
    {
      method: 'PATCH',
      url: session,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - start), 'content-range': `${start}-${end - 1}` },
      body: () => fileStream(blobPath, start, end, onSent),
      what,
      retry: false,
    },
    async (response) => {
      await response.body?.cancel();
      return client.resolveLocation(response.headers.get('location'), what);
    },
  );
}

/** The closing PUT: carries the bytes from `from` on (all of them for a monolithic upload, none after chunks). */
async function putBlob(
  client: RegistryClient, session: string, blobPath: string, descriptor: Descriptor, from: number, what: string, onSent?: (offset: number) => void,
): Promise<void> {
  const url = new URL(session);
  url.searchParams.set('digest', descriptor.digest);
  const length = descriptor.size - from;
  await client.send(
    {
      method: 'PUT',
      url: url.toString(),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) },
      ...(length > 0 ? { body: () => fileStream(blobPath, from, descriptor.size, onSent) } : {}),
      what,
      retry: false,
    },
    async (response) => {
      await response.body?.cancel();
    },
  );
}
