/**
 * A request body that is a byte range of a file (a blob in the store): read into two buffers that are used again
 * and again, each refilled only once the socket has taken what it held (the write's callback), the next read
 * running while the last chunk goes out. Why not a read stream: every 1 MiB chunk of a stream is a new buffer,
 * and glibc keeps what they freed, so a 208 MB push ended at 83 MB of RSS against 45 MB at its first request, and
 * a process's exit costs more the more memory it touched (docs/ARCHITECTURE.md, "Registries", fifth pass).
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { ClientRequest } from 'node:http';
import { BuildError } from '../errors.js';

const CHUNK_BYTES = 1024 * 1024;

/** Bytes `start` to `end` (exclusive) of the file at `path`; `onSent` gets the offset sent so far after each chunk. */
export class FileRange {
  constructor(readonly path: string, readonly start: number, readonly end: number, readonly onSent?: (offset: number) => void) {}
}

/** Writes the range to `outgoing` and ends it; rejects (and leaves the request to its caller to destroy) on any failure. */
export async function sendFileRange(range: FileRange, outgoing: ClientRequest): Promise<void> {
  const handle = await open(range.path, 'r');
  try {
    const buffers = [Buffer.allocUnsafeSlow(CHUNK_BYTES), Buffer.allocUnsafeSlow(CHUNK_BYTES)];
    let offset = range.start;
    let current = 0;
    let reading = readAt(handle, buffers[current]!, offset, range.end);
    while (offset < range.end) {
      const bytes = await reading;
      if (bytes === 0) throw new BuildError('STORE_CORRUPT', `${range.path} ends at byte ${offset}, before the ${range.end} it should hold`);
      const sent = write(outgoing, buffers[current]!.subarray(0, bytes));
      const next = offset + bytes;
      // The other buffer's write has finished (awaited below, one turn ago): it can be filled while this one is sent.
      current = 1 - current;
      reading = next < range.end ? readAt(handle, buffers[current]!, next, range.end) : Promise.resolve(0);
      await sent;
      offset = next;
      range.onSent?.(offset);
    }
    outgoing.end();
  } finally {
    await handle.close();
  }
}

function readAt(handle: FileHandle, buffer: Buffer, position: number, end: number): Promise<number> {
  const reading = handle.read(buffer, 0, Math.min(buffer.length, end - position), position).then((result) => result.bytesRead);
  // Awaited later, after a write: marked handled now, so a failed read is not an unhandled rejection meanwhile.
  reading.catch(() => undefined);
  return reading;
}

/** Resolves once the socket has taken `chunk` (it must not be changed before); rejects if the request closes first. */
function write(outgoing: ClientRequest, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = (): void => reject(Object.assign(new Error('the connection closed while the body was being sent'), { code: 'ECONNRESET' }));
    outgoing.once('close', onClose);
    outgoing.write(chunk, (err) => {
      outgoing.off('close', onClose);
      if (err) reject(err);
      else resolve();
    });
  });
}
