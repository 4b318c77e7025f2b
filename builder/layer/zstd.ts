/**
 * zstd through Debian's `zstd` program as a streaming subprocess: Node 20's zlib has no zstd (it arrived in
 * Node 22.15), and the npm bindings either ship prebuilt binaries our registry does not serve or need a C
 * toolchain at install time. The CLI streams at its native speed on its own threads, off our event loop.
 * Output is deterministic for one zstd version and level: always fed through stdin (so no content size in
 * the frame header) in multi-threaded mode (`-T0`), whose bytes do not depend on the number of threads.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { BuildError } from '../errors.js';
import { checkCompressionLevel, DEFAULT_ZSTD_LEVEL } from '../image/compression-options.js';
import type { BlobDigests } from './gzip-writer.js';

const ZSTD = process.env.BUILDER_ZSTD ?? 'zstd';

type ZstdChild = ChildProcessByStdio<Writable, Readable, Readable>;

function startZstd(args: string[]): { child: ZstdChild; exited: Promise<void> } {
  const child = spawn(ZSTD, ['-q', '-c', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { if (stderr.length < 2000) stderr += chunk.toString(); });
  // A consumer that stops early closes our end of stdin: the exit code tells what happened, not EPIPE.
  child.stdin.on('error', () => undefined);
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT'
        ? new BuildError('NOT_SUPPORTED', 'zstd layers need the zstd program, which is not installed (apt-get install zstd)')
        : new BuildError('INTERNAL', `cannot run zstd: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new BuildError('LAYER_INVALID', `zstd ${args.includes('-d') ? 'decompression' : 'compression'} failed (${signal ?? `exit ${code}`}): ${stderr.trim().slice(0, 300)}`));
    });
  });
  exited.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  return { child, exited };
}

/** A readable of the decompressed bytes of `input` (a zstd stream). Errors (bad data, no zstd) surface on it. */
export function zstdDecompress(input: Readable): Readable {
  const { child, exited } = startZstd(['-d']);
  // The stream ends only once zstd said the data was whole: a corrupt frame must fail the reader, not look
  // like a short tar.
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  // The error may come before the reader is attached (zstd missing fails at spawn): the reader still sees it, as
  // a destroyed stream's async iterator rejects with it, but without a listener here the pipe would throw it.
  out.on('error', () => undefined);
  input.on('error', (err) => out.destroy(err));
  input.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  Promise.all([once(child.stdout, 'end'), exited]).then(() => out.end(), (err: unknown) => out.destroy(err as Error));
  // The consumer stopping early (an extraction error) must not leave zstd running.
  out.once('close', () => { if (child.exitCode === null) child.kill(); });
  return out;
}

/**
 * Streams tar bytes into a zstd blob written to `handle`, hashing the tar (diffId) and the blob (digest) on
 * the way; the same contract as GzipBlobWriter.
 */
export class ZstdBlobWriter {
  private readonly tarHash = createHash('sha256');
  private readonly blobHash = createHash('sha256');
  private written = 0;
  private readonly child: ZstdChild;
  private readonly exited: Promise<void>;
  private readonly drained: Promise<void>;

  constructor(private readonly handle: FileHandle, level = DEFAULT_ZSTD_LEVEL) {
    const args = [`-${checkCompressionLevel('zstd', level)}`, '-T0'];
    if (level > 19) args.unshift('--ultra');
    ({ child: this.child, exited: this.exited } = startZstd(args));
    this.drained = this.copyOut();
    this.drained.catch(() => undefined);
  }

  private async copyOut(): Promise<void> {
    for await (const chunk of this.child.stdout) {
      const bytes = chunk as Buffer;
      this.blobHash.update(bytes);
      this.written += bytes.length;
      let offset = 0;
      while (offset < bytes.length) offset += (await this.handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
    }
  }

  /** Appends tar bytes, waiting while zstd's input pipe is full. */
  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.tarHash.update(chunk);
    if (this.child.stdin.write(chunk)) return;
    await Promise.race([once(this.child.stdin, 'drain'), this.exited, this.drained]);
  }

  /** Ends the stream, waits for zstd and the last write; returns the digests. The handle stays open. */
  async finish(): Promise<BlobDigests> {
    this.child.stdin.end();
    await Promise.all([this.exited, this.drained]);
    return { diffId: 'sha256:' + this.tarHash.digest('hex'), digest: 'sha256:' + this.blobHash.digest('hex'), size: this.written };
  }

  /** Stops zstd after a failure elsewhere (the caller removes the file). */
  abort(): void {
    this.child.kill();
  }
}
