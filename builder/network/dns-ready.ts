/**
 * netavark starts aardvark-dns (or signals it to reload) and returns before it answers: a container that
 * looks a name up at once can get "bad address". So attach asks the gateway for the container's own name
 * until it answers (a query from the host to the bridge's own address: it never leaves the host).
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

const DEADLINE_MS = 3000;
const RETRY_MS = 50;

function query(name: string, id: Buffer): Buffer {
  const labels = name.split('.').filter(Boolean).map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
  // Header: id, flags (recursion desired), 1 question; then QNAME, QTYPE A, QCLASS IN.
  return Buffer.concat([id, Buffer.from([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** Resolves once `server` answers `name` with at least one record, or after the deadline (never throws). */
export async function waitForDns(server: string, name: string): Promise<boolean> {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) || name.length > 63) return false;
  const socket = createSocket('udp4');
  const id = randomBytes(2);
  const packet = query(name, id);
  try {
    return await new Promise<boolean>((resolve) => {
      const send = (): void => { socket.send(packet, 53, server, () => undefined); };
      const timer = setInterval(send, RETRY_MS);
      const deadline = setTimeout(() => { clearInterval(timer); resolve(false); }, DEADLINE_MS);
      socket.on('message', (message) => {
        // Same id and ANCOUNT > 0: the name is in aardvark's table now.
        if (message.length >= 12 && message.subarray(0, 2).equals(id) && message.readUInt16BE(6) > 0) {
          clearInterval(timer);
          clearTimeout(deadline);
          resolve(true);
        }
      });
      // Port unreachable (aardvark not bound yet) surfaces as an error on some kernels: keep trying.
      socket.on('error', () => undefined);
      send();
    });
  } finally {
    socket.close();
  }
}
