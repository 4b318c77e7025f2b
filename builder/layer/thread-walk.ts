/**
 * A big tree's walk and small-file reads on the reader thread (thread-walk-source.ts), handed to the tar writer
 * in its order. Before, the main thread walked (readdir, lstat: ~70-90 ms per 20,000 entries warm, twice that in
 * a cold CLI, plus the Stats objects' garbage) and sent the reader thread the paths to read, while that thread
 * waited for them; now the main thread only formats headers and copies bytes, and the paths never cross.
 */
import { BuildError } from '../errors.js';
import { startThreadWalk, type ThreadWalkHandle, type WalkReply } from './file-reader.js';
import { Batch, INLINE_FILE, type Prepared } from './read-ahead.js';
import { STAT_FIELDS } from './thread-walk-source.js';
import { EntryStat } from './tree-walk.js';

/** Batches the thread may walk ahead of the writer (each ≤ 256 entries and ~1 MiB of contents). */
const CREDIT = 8;

/** Where the tar writer takes its entries from: the main thread's ReadAhead or a ThreadWalk. */
export interface EntrySource {
  /** The next entry in tar order, undefined at the end; a promise when it has not arrived yet. */
  next(): Prepared | undefined | Promise<Prepared | undefined>;
  /** Stops the walk (after an error elsewhere); harmless once it ended. */
  close(): void;
}

interface Decoded {
  rels: string[];
  stats: Float64Array;
  batch: Batch | undefined;
}

export class ThreadWalk implements EntrySource {
  private readonly arrived: Decoded[] = [];
  private current: Decoded | undefined;
  private index = 0;
  private offset = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly handle: ThreadWalkHandle;

  constructor(root: string) {
    this.handle = startThreadWalk(root, CREDIT, (reply) => this.receive(reply));
  }

  private receive(reply: WalkReply): void {
    if (reply.failed) {
      const { message, code, path, thread } = reply.failed;
      this.failure = thread
        ?? (code ? Object.assign(new Error(message), { code }) : new BuildError('INTERNAL', path ? `"${path}" ${message}` : message));
    } else {
      const batch = reply.buffer ? new Batch() : undefined;
      if (batch) batch.contents = Buffer.from(reply.buffer!, reply.offset, reply.length);
      this.arrived.push({ rels: reply.count === 0 ? [] : reply.joined!.split('\0'), stats: reply.stats!, batch });
      if (reply.end) this.ended = true;
    }
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  next(): Prepared | undefined | Promise<Prepared | undefined> {
    const current = this.current;
    if (current && this.index < current.rels.length) return this.take(current);
    return this.advance();
  }

  /** The next batch, once it is in (a credit given back for the one just finished). */
  private advance(): Prepared | undefined | Promise<Prepared | undefined> {
    for (;;) {
      const following = this.arrived.shift();
      if (following) {
        if (this.current) this.handle.credit();
        this.current = following;
        this.index = 0;
        this.offset = 0;
        if (following.rels.length > 0) return this.take(following);
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.ended) {
        this.current = undefined;
        return undefined;
      }
      return new Promise<void>((resolve) => (this.wake = resolve)).then(() => this.advance());
    }
  }

  private take(decoded: Decoded): Prepared {
    const at = this.index * STAT_FIELDS;
    const s = decoded.stats;
    const stat = new EntryStat(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!, s[at + 5]!, s[at + 6]!, s[at + 7]!, s[at + 8]!, s[at + 9]!);
    const rel = decoded.rels[this.index++]!;
    const slash = rel.lastIndexOf('/');
    const entry = { rel, relDir: slash === -1 ? '' : rel.slice(0, slash), name: slash === -1 ? rel : rel.slice(slash + 1), stat };
    // The thread read exactly these (thread-walk-source.ts nextBatch), in this order.
    if (decoded.batch && stat.isFile() && stat.nlink === 1 && stat.size > 0 && stat.size <= INLINE_FILE) {
      const offset = this.offset;
      this.offset += stat.size;
      return { entry, batch: decoded.batch, offset };
    }
    return { entry, offset: 0 };
  }

  close(): void {
    this.handle.stop();
  }
}
