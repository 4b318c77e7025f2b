import http from 'node:http';

/** Resolves once an Engine API daemon answers `GET /_ping` with 200 on `socket`; throws after `timeoutMs`. */
export async function waitForSocket(socket: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      http.get({ socketPath: socket, path: '/_ping' }, (res) => { res.resume(); resolve(res.statusCode === 200); }).on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answered on ${socket}`);
}

/** One request to a daemon on a unix socket; resolves with the status and body, whatever the status. */
export function socketRequest(socket: string, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath: socket, method, path, headers: { Host: 'bench' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}
