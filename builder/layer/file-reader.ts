/**
 * Reads many small files on a second thread. A layer of 20,000 small files spends most of its tar time in
 * open/read/close (~7 µs a file on this machine, more than the lstat walk and the headers together), all of it
 * synchronous on the event loop; a worker thread doing the reads while the main thread walks and writes headers
 * uses the second core. One worker per process, started on first use and kept (it costs ~20 ms to start), idle
 * and unref'd between layers, so it never keeps a CLI alive. Files go in batches (one message each way per batch,
 * the contents in one transferred buffer), so the messages cost far less than the reads they move.
 */
import { Worker } from 'node:worker_threads';
import { BuildError } from '../errors.js';
import { OPEN_ARCHIVED_SOURCE } from './archive-open.js';
import { WALK_SOURCE } from './thread-walk-source.js';

// Plain CommonJS evaluated in the worker: no module file to find, so it works from the CLI bundle as well.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readSync, closeSync } = require('node:fs');
${OPEN_ARCHIVED_SOURCE}
${WALK_SOURCE}
parentPort.on('message', (message) => {
  if (message.kind !== undefined) return onWalkMessage(message);
  const { id, joined, sizes, total } = message;
  const paths = joined === '' ? [] : joined.split('\\0');
  const buffer = Buffer.allocUnsafe(total);
  let at = 0;
  for (let index = 0; index < paths.length; index++) {
    try {
      readInto(paths[index], buffer, at, sizes[index]); // WALK_SOURCE's: open, read exactly, close
    } catch (err) {
      parentPort.postMessage({ id, failed: { index, message: String(err && err.message), code: err && err.code } });
      return;
    }
    at += sizes[index];
  }
  parentPort.postMessage({ id, buffer: buffer.buffer, offset: buffer.byteOffset, length: total }, [buffer.buffer]);
});
`;

interface Reply {
  id: number;
  buffer?: ArrayBuffer;
  offset?: number;
  length?: number;
  failed?: { index: number; message: string; code?: string };
}

interface Waiting {
  paths: string[];
  resolve(contents: Buffer): void;
  reject(err: Error): void;
}

let worker: Worker | undefined;
const waiting = new Map<number, Waiting>();
let nextId = 0;

function failAll(err: Error): void {
  for (const entry of waiting.values()) entry.reject(err);
  waiting.clear();
  for (const listener of walks.values()) listener({ kind: 'walk', id: -1, failed: { message: err.message, thread: err } });
  walks.clear();
}

/** One batch of a walk on the reader thread (thread-walk-source.ts), or how it failed. */
export interface WalkReply {
  kind: 'walk';
  id: number;
  joined?: string;
  count?: number;
  stats?: Float64Array;
  buffer?: ArrayBuffer;
  offset?: number;
  length?: number;
  end?: boolean;
  failed?: { message: string; code?: string; path?: string; thread?: Error };
}

const walks = new Map<number, (reply: WalkReply) => void>();

/** A walk running on the reader thread: give a credit back per batch taken, or stop it. */
export interface ThreadWalkHandle {
  credit(): void;
  stop(): void;
}

/**
 * Starts walking `root` on the reader thread (thread-walk-source.ts): `onReply` gets its batches in order, the last
 * with `end` (or one with `failed`). At most `credit` batches are sent ahead of the credits given back.
 */
export function startThreadWalk(root: string, credit: number, onReply: (reply: WalkReply) => void): ThreadWalkHandle {
  const reader = started();
  const id = nextId++;
  const taken = new Int32Array(new SharedArrayBuffer(4));
  walks.set(id, onReply);
  reader.ref();
  reader.postMessage({ kind: 'walk', id, root, credit, taken });
  return {
    credit: () => {
      Atomics.add(taken, 0, 1);
      if (walks.has(id)) reader.postMessage({ kind: 'credit', id });
    },
    stop: () => {
      if (!walks.delete(id)) return;
      reader.postMessage({ kind: 'stop', id });
      if (waiting.size === 0 && walks.size === 0) reader.unref();
    },
  };
}

function started(): Worker {
  if (worker) return worker;
  const created = new Worker(WORKER_SOURCE, { eval: true, name: 'builder layer file reader' });
  created.on('message', (reply: Reply | WalkReply) => {
    if ('kind' in reply) {
      const listener = walks.get(reply.id);
      if (!listener) return;
      if (reply.end || reply.failed) {
        walks.delete(reply.id);
        if (waiting.size === 0 && walks.size === 0) created.unref();
      }
      listener(reply);
      return;
    }
    const entry = waiting.get(reply.id);
    if (!entry) return;
    waiting.delete(reply.id);
    if (waiting.size === 0 && walks.size === 0) created.unref();
    if (reply.failed) {
      const path = entry.paths[reply.failed.index] ?? '?';
      const err = reply.failed.code
        ? Object.assign(new Error(reply.failed.message), { code: reply.failed.code })
        : new BuildError('INTERNAL', `"${path}" ${reply.failed.message}`);
      entry.reject(err);
    } else {
      entry.resolve(Buffer.from(reply.buffer!, reply.offset, reply.length));
    }
  });
  const gone = (err: Error): void => {
    if (worker === created) worker = undefined;
    failAll(new BuildError('INTERNAL', `the layer file reader thread stopped: ${err.message}`, { cause: err }));
  };
  created.on('error', gone);
  created.on('exit', (code) => gone(new Error(`exit code ${code}`)));
  created.unref();
  worker = created;
  return created;
}

/** Whether the reader thread is up (started by warmFileReader or an earlier layer), so using it costs no start. */
export function fileReaderRunning(): boolean {
  return worker !== undefined;
}

/**
 * Starts the reader thread ahead of a layer that may need it (idle and unref'd until then): its ~20-40 ms start
 * (more under load) then overlaps a long RUN instead of delaying the first batch of the layer that follows.
 */
export function warmFileReader(): void {
  started();
}

/**
 * The contents of `paths` (regular files of exactly `sizes` bytes), concatenated, read on the reader thread.
 * Rejects with the first file that cannot be read or whose size is not the one given.
 */
export function readFiles(paths: string[], sizes: number[], total: number): Promise<Buffer> {
  const reader = started();
  const id = nextId++;
  const contents = new Promise<Buffer>((resolve, reject) => waiting.set(id, { paths, resolve, reject }));
  // Referenced while a batch is out: the build awaits it, and an unref'd worker alone would let the process exit.
  reader.ref();
  // One string, not an array of them: cloning 256 strings per batch was ~15 ms of the main thread per 20,000 files
  // (a path holds no NUL).
  reader.postMessage({ id, joined: paths.join('\0'), sizes, total });
  return contents;
}
