/**
 * A TCP relay on 127.0.0.1 in front of the bench registry that counts the bytes both ways: the one way to compare
 * "bytes moved" between builder and a dockerd whose transfers we cannot instrument. Loopback only.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface ByteProxy {
  /** `127.0.0.1:PORT`, to use as the registry host. */
  host: string;
  /** Bytes relayed (requests + responses, HTTP framing included) since the last reset. */
  bytes(): number;
  reset(): void;
  stop(): Promise<void>;
}

export async function startByteProxy(target: string): Promise<ByteProxy> {
  const [targetHost, targetPort] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.on('data', (chunk: Buffer) => { count += chunk.length; });
    upstream.on('data', (chunk: Buffer) => { count += chunk.length; });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    bytes: () => count,
    reset: () => { count = 0; },
    stop: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
