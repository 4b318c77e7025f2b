/** Streams a raw request body (a build context, an image archive) into a file, refusing bodies over the limit. */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { DockerApiError } from './errors.js';

export function tooLarge(limit: number): DockerApiError {
  return new DockerApiError(413, `request body is larger than the daemon's limit of ${limit} bytes (builder daemon --max-body-size)`);
}

/** Refuses at once when Content-Length already says the body is too big, before a byte is read. */
export function checkDeclaredLength(request: FastifyRequest, limit: number): void {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(limit);
}

/** The body as a stream that fails with a 413 once more than `limit` bytes arrive (chunked uploads have no length). */
export function limitedBody(request: FastifyRequest, limit: number): NodeJS.ReadableStream {
  checkDeclaredLength(request, limit);
  let received = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > limit) callback(tooLarge(limit));
      else callback(null, chunk);
    },
  });
  request.raw.on('error', (err) => counter.destroy(err));
  request.raw.on('aborted', () => counter.destroy(new DockerApiError(400, 'the client closed the connection before sending the whole body')));
  return request.raw.pipe(counter);
}

/** Writes the body to `path`; on any failure the partial file is removed. */
export async function receiveBodyToFile(request: FastifyRequest, path: string, limit: number): Promise<number> {
  const body = limitedBody(request, limit);
  let size = 0;
  body.on('data', (chunk: Buffer) => (size += chunk.length));
  try {
    await pipeline(body, createWriteStream(path, { mode: 0o600 }));
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  return size;
}
