/**
 * Turns a pull's or push's blob progress into TransferEvents for whoever watches (the CLI's bars, a build's
 * event stream). Byte updates are thrown away unless 100 ms passed for that blob: a build's events go to Redis
 * on a farm, and one event per 64 KiB chunk would flood it. State changes always pass.
 */
import type { TransferEvent, TransferStatus } from '../events.js';

export type TransferSink = (event: TransferEvent) => void;

const BYTES_EVERY_MS = 100;

export class TransferReport {
  private readonly lastBytesAt = new Map<string, number>();

  constructor(private readonly direction: TransferEvent['direction'], private readonly ref: string, private readonly sink: TransferSink | undefined) {}

  /** `digest` is a full `sha256:…`; the event carries docker's 12-hex short id. */
  status(digest: string, status: TransferStatus, extra: { current?: number; total?: number; from?: string } = {}): void {
    if (!this.sink) return;
    const id = digest.replace(/^sha256:/, '').slice(0, 12);
    const now = Date.now();
    if (status === 'downloading' || status === 'uploading') {
      const last = this.lastBytesAt.get(id);
      const done = extra.total !== undefined && extra.current === extra.total;
      if (last !== undefined && now - last < BYTES_EVERY_MS && !done) return;
      this.lastBytesAt.set(id, now);
    }
    this.sink({ type: 'transfer', direction: this.direction, ref: this.ref, id, status, ...extra, time: now });
  }
}
