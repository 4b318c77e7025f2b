/**
 * Streams a blob from a registry into the store: hashed while it streams, resumed with a Range request
 * when the connection drops, checked against its descriptor, and only then moved under its digest.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError, errorMessage } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import type { Store } from '../store/store.js';
import type { RegistryClient } from './client.js';
import { backoffMs, cancelled, isRetryableNetworkError, networkErrorText, sleep } from './http.js';

const DOWNLOAD_ATTEMPTS = 6;

/** Downloads `descriptor` into the store unless the store has it. Returns the bytes transferred. `onReceived` gets the bytes so far. */
export async function downloadBlob(
  client: RegistryClient, store: Store, descriptor: Descriptor, what: string, onReceived?: (received: number) => void,
): Promise<number> {
  if (await store.hasBlob(descriptor.digest)) return 0;
  const temp = store.tempPath('pull');
  const file = await open(temp, 'w');
  let moved = false;
  try {
    const state: DownloadState = { hash: createHash('sha256'), received: 0, onReceived };
    for (let attempt = 0; ; attempt++) {
      try {
        await fetchInto(client, file, state, descriptor, what);
        break;
      } catch (err) {
        if (client.context.signal?.aborted) throw cancelled();
        if (!(err instanceof BuildError)) throw new BuildError('INTERNAL', `${what}: ${networkErrorText(err)}`, { cause: err });
        if (err.code !== 'REGISTRY_UNAVAILABLE' || attempt + 1 >= DOWNLOAD_ATTEMPTS) throw err;
        await sleep(backoffMs(attempt), client.context.signal);
      }
    }
    if (state.received !== descriptor.size) {
      throw new BuildError('LAYER_INVALID', `${what}: blob is truncated: received ${state.received} of ${descriptor.size} bytes`);
    }
    const digest = `sha256:${state.hash.digest('hex')}`;
    if (digest !== descriptor.digest) {
      throw new BuildError('LAYER_INVALID', `${what}: content does not match its digest (got ${digest}); the registry sent corrupt data`);
    }
    // fdatasync, as skopeo does for blobs: the bytes and the size, not the timestamps, must be on disk before the rename.
    await file.datasync();
    await file.close();
    await store.importBlobFile(temp, descriptor.digest);
    moved = true;
    return state.received;
  } finally {
    if (!moved) {
      await file.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
    }
  }
}

interface DownloadState {
  hash: Hash;
  received: number;
  onReceived?: (received: number) => void;
}

async function fetchInto(client: RegistryClient, file: FileHandle, state: DownloadState, descriptor: Descriptor, what: string): Promise<void> {
  const headers: Record<string, string> = {};
  if (state.received > 0) headers.range = `bytes=${state.received}-`;
  await client.send({ method: 'GET', url: client.url(`blobs/${descriptor.digest}`), headers, what, retry: false }, async (response) => {
    if (state.received > 0 && response.status !== 206) {
      // The registry ignored the Range: start over.
      state.hash = createHash('sha256');
      state.received = 0;
      await file.truncate(0);
    }
    await pipeline(response.body, new BlobSink(file, state, descriptor.size, what));
  }).catch((err: unknown) => {
    if (err instanceof BuildError || !isRetryableNetworkError(err)) throw err;
    // A body that stops mid-way: resumable by the caller.
    throw new BuildError('REGISTRY_UNAVAILABLE', `${what}: ${errorMessage(err)}`, { cause: err });
  });
}

/**
 * Writes the body at the file's end and hashes what was written, in that order, so `received` and the hash always
 * describe the bytes on disk (a resume starts right there). Chunks that arrive during a write are written together.
 */
class BlobSink extends Writable {
  constructor(private readonly file: FileHandle, private readonly state: DownloadState, private readonly size: number, private readonly what: string) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    if (this.state.received + length > this.size) {
      callback(new BuildError('LAYER_INVALID', `${this.what}: the registry sent more than the ${this.size} bytes the manifest declares`));
      return;
    }
    writeAll(this.file, buffers, this.state.received).then(() => {
      for (const buffer of buffers) this.state.hash.update(buffer);
      this.state.received += length;
      this.state.onReceived?.(this.state.received);
      callback();
    }, (err: unknown) => callback(err as Error));
  }
}

async function writeAll(file: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let pending = buffers;
  for (let at = position; pending.length > 0; ) {
    const { bytesWritten } = await file.writev(pending, at);
    at += bytesWritten;
    // A short write (rare on regular files): drop what went out and write the rest.
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (skip >= buffer.length) skip -= buffer.length;
      else {
        rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
        skip = 0;
      }
    }
    pending = rest;
  }
}
