/**
 * Streams a blob from a registry into the store: hashed while it streams, resumed with a Range request
 * when the connection drops, checked against its descriptor, and only then moved under its digest.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
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
    await file.sync();
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
    if (!response.body) throw new BuildError('REGISTRY_UNAVAILABLE', `${what}: the registry sent no body`);
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      if (state.received + chunk.length > descriptor.size) {
        throw new BuildError('LAYER_INVALID', `${what}: the registry sent more than the ${descriptor.size} bytes the manifest declares`);
      }
      await writeAll(file, chunk, state.received);
      state.hash.update(chunk);
      state.received += chunk.length;
      state.onReceived?.(state.received);
    }
  }).catch((err: unknown) => {
    if (err instanceof BuildError || !isRetryableNetworkError(err)) throw err;
    // A body that stops mid-way: resumable by the caller.
    throw new BuildError('REGISTRY_UNAVAILABLE', `${what}: ${errorMessage(err)}`, { cause: err });
  });
}

async function writeAll(file: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    const { bytesWritten } = await file.write(chunk, written, chunk.length - written, position + written);
    written += bytesWritten;
  }
}
