/** Loopback HTTP probes for tests and benches that reach containers through ports published on 127.0.0.1. */
import http from 'node:http';
import net from 'node:net';

/** A port nobody listens on now (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The body of http://127.0.0.1:PORT/ on a 200, or undefined when nothing answers in time. */
export function fetchPage(port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', timeout: timeoutMs }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      response.on('end', () => resolve(response.statusCode === 200 ? body : undefined));
    });
    request.on('timeout', () => { request.destroy(); resolve(undefined); });
    request.on('error', () => resolve(undefined));
  });
}

/** A loopback HTTP server for one test; `handler` sees every request. close() drops open connections too. */
export async function serveLoopback(handler: http.RequestListener): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
