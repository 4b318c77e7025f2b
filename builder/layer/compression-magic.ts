import { open } from 'node:fs/promises';

/** How a layer blob (or an archive) is compressed, as its first bytes say. */
export type Compression = 'gzip' | 'zstd' | 'none';

/** The first bytes of a compressed stream, by format: every sniffer in the engine asks here. */
export function isGzipMagic(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** A zstd frame starts with 28 b5 2f fd (RFC 8878 3.1.1). */
export function isZstdMagic(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd;
}

/** The compression the first (at least 4) bytes show; anything else is taken as a plain tar. */
export function sniffCompression(head: Uint8Array): Compression {
  if (isGzipMagic(head)) return 'gzip';
  if (isZstdMagic(head)) return 'zstd';
  return 'none';
}

/** The compression of a file, from its first bytes. */
export async function compressionOfFile(path: string): Promise<Compression> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return sniffCompression(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** True when the file starts with the gzip magic bytes. */
export async function isGzipFile(path: string): Promise<boolean> {
  return (await compressionOfFile(path)) === 'gzip';
}
