/**
 * The hijacked connection of attach and exec start: `101 UPGRADED` (or 200 for clients that did not ask to upgrade)
 * with `application/vnd.docker.raw-stream`, then raw bytes, or docker's multiplexed frames without a TTY:
 * `[stream, 0, 0, 0, size(uint32 BE)]` + payload, stream 1 = stdout, 2 = stderr.
 */
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The JSON body of an upgraded request (exec start), read off the socket before routing (app.ts). */
export const upgradeBodies = new WeakMap<import('node:http').IncomingMessage, unknown>();

/** Sockets taken over by an upgrade: Node's server no longer tracks them, so shutdown destroys them itself. */
export const upgradedSockets = new Set<import('node:net').Socket>();

export function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

export interface RawStream {
  socket: Socket;
  stdout: Writable;
  stderr: Writable;
  end(): void;
}

/** Takes the connection over from HTTP; `multiplex` when the container or exec has no TTY. */
export function hijack(request: FastifyRequest, reply: FastifyReply, multiplex: boolean): RawStream {
  reply.hijack();
  const socket = request.raw.socket;
  // A client that goes (a detach, a killed CLI) makes our next write an EPIPE: the stream just ends ('close').
  socket.on('error', () => socket.destroy());
  const upgrade = /upgrade/i.test(String(request.headers.connection ?? '')) && request.headers.upgrade !== undefined;
  const type = multiplex ? 'application/vnd.docker.multiplexed-stream' : 'application/vnd.docker.raw-stream';
  socket.write(upgrade
    ? `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: 1.47\r\n\r\n`
    : `HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nApi-Version: 1.47\r\nConnection: close\r\n\r\n`);
  const writer = (stream: 1 | 2): Writable => new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (socket.destroyed) return callback();
      socket.write(multiplex ? frame(stream, chunk) : chunk, () => callback());
    },
  });
  return {
    socket,
    stdout: writer(1),
    stderr: writer(2),
    end: () => { if (!socket.destroyed) socket.end(); },
  };
}
