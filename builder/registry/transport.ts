/**
 * The wire under registry requests: node:http/https with keep-alive agents instead of fetch. Measured on the
 * 208 MB bench layer (2 cores, under contention): fetch + web streams cost 600–1100 ms of CPU to receive, hash
 * and write it, node:http streams 440–500 ms; see docs/ARCHITECTURE.md "Registries". Bodies stay Node streams
 * end to end, and a response offers the few members of fetch's Response the registry code uses.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors.js';
import { assertHostAllowed } from './endpoints.js';
import { FileRange, sendFileRange } from './file-body.js';

/** A body, made again for each attempt and each 307/308 redirect; a FileRange is sent from the file (file-body.ts). */
export type RequestBody = Uint8Array | string | AsyncIterable<Uint8Array> | FileRange;

export interface TransportRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: () => RequestBody;
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 10;
/** A request whose socket is silent this long fails as a dropped connection (undici's default body timeout). */
const STALL_MS = 300_000;
/** Idle keep-alive sockets are closed after this long, before most servers close them under us. */
const IDLE_SOCKET_MS = 4_000;
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  'https:': new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
};

/** Response headers, read as fetch's Headers are (case-insensitive, list values joined). */
export class ResponseHeaders {
  constructor(private readonly raw: IncomingMessage['headers']) {}
  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }
}

/** A registry response: status, headers and a streamed body (drain it, read it, or `cancel()` it). */
export class RegistryResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: ResponseHeaders;
  readonly url: string;
  readonly body: AsyncIterable<Buffer> & { cancel(): Promise<void> };

  constructor(private readonly message: IncomingMessage, url: string, method: string) {
    this.status = message.statusCode ?? 0;
    this.ok = this.status >= 200 && this.status < 300;
    this.headers = new ResponseHeaders(message.headers);
    this.url = url;
    const stream = message;
    this.body = Object.assign(stream, {
      // Discarding an unread body destroys the socket only when there is much left; a short one is drained so the
      // connection goes back to the pool.
      cancel: async (): Promise<void> => {
        if (stream.destroyed || stream.readableEnded) return;
        const length = Number(stream.headers['content-length'] ?? 'NaN');
        if (stream.complete || method === 'HEAD' || length <= 64 * 1024) stream.resume();
        else stream.destroy();
      },
    });
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.buffer();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async buffer(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.message as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  async text(): Promise<string> {
    return (await this.buffer()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }
}

/** One exchange, following redirects (authorization is dropped when a redirect leaves the origin, as fetch does). */
export async function exchange(request: TransportRequest): Promise<RegistryResponse> {
  let url = new URL(request.url);
  let method = request.method;
  let headers = { ...request.headers };
  let body = request.body;
  for (let hop = 0; ; hop++) {
    assertHostAllowed(url);
    const response = await once(url, method, headers, body, request.signal);
    const location = response.headers.get('location');
    if (![301, 302, 303, 307, 308].includes(response.status) || !location || hop >= MAX_REDIRECTS) return response;
    await response.body.cancel();
    const next = new URL(location, url);
    if (next.origin !== url.origin) headers = withoutHeader(headers, 'authorization');
    if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      headers = withoutHeader(withoutHeader(headers, 'content-length'), 'content-type');
    }
    url = next;
  }
}

function withoutHeader(headers: Record<string, string>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([key]) => key.toLowerCase() !== name));
}

function once(url: URL, method: string, headers: Record<string, string>, body: TransportRequest['body'], signal?: AbortSignal): Promise<RegistryResponse> {
  const protocol = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!protocol) return Promise.reject(new BuildError('INVALID_REFERENCE', `unsupported registry URL scheme in ${url.toString()}`));
  const payload = body?.();
  const fixed = typeof payload === 'string' || payload instanceof Uint8Array ? Buffer.from(payload) : undefined;
  const sendHeaders = { ...headers };
  if (fixed && !Object.keys(sendHeaders).some((k) => k.toLowerCase() === 'content-length')) sendHeaders['content-length'] = String(fixed.length);
  return new Promise<RegistryResponse>((resolve, reject) => {
    const outgoing = protocol.request(url, { method, headers: sendHeaders, agent: agents[url.protocol as 'http:' | 'https:'], signal });
    outgoing.setTimeout(STALL_MS, () => outgoing.destroy(Object.assign(new Error(`no data for ${STALL_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    outgoing.once('error', reject);
    outgoing.once('response', (message) => {
      // Errors after the headers belong to the body's reader now.
      outgoing.off('error', reject);
      outgoing.on('error', () => undefined);
      resolve(new RegistryResponse(message, url.toString(), method));
    });
    if (fixed) outgoing.end(fixed);
    else if (payload instanceof FileRange) sendFileRange(payload, outgoing).catch((err: unknown) => outgoing.destroy(err as Error));
    else if (payload) {
      // A streamed body that fails (file read error, a peer that hangs up) fails the request.
      pipeline(Readable.from(payload as AsyncIterable<Uint8Array>, { objectMode: false }), outgoing).catch((err: unknown) => outgoing.destroy(err as Error));
    } else outgoing.end();
  });
}
