/**
 * docker's JSON message stream (`{"status":…}`, `{"stream":…}`, `{"aux":…}`, `{"errorDetail":…,"error":…}`), one
 * object per line. Like dockerd, the 200 is only sent with the first message: an error before it is a plain HTTP
 * error with its status, an error after it is an `errorDetail` message the CLI prints before exiting 1.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toDockerError } from './errors.js';

export interface JsonMessage {
  status?: string;
  id?: string;
  stream?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: unknown;
  error?: string;
  errorDetail?: { message: string; code?: number };
}

export class JsonStream {
  private started = false;
  /** Aborted when the client goes away before the response is finished (a closed `docker build` cancels it). */
  readonly abort = new AbortController();

  constructor(private readonly request: FastifyRequest, private readonly reply: FastifyReply) {
    reply.hijack();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) this.abort.abort();
    });
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  write(message: JsonMessage): void {
    if (this.abort.signal.aborted) return;
    this.start();
    this.reply.raw.write(`${JSON.stringify(message)}\n`);
  }

  /** Runs the task; its error becomes an HTTP error or an in-stream errorDetail. */
  async run(task: (stream: JsonStream) => Promise<void>): Promise<void> {
    try {
      await task(this);
    } catch (err) {
      const { statusCode, message, internal } = toDockerError(err);
      if (internal) this.request.log.error({ err }, 'request failed');
      if (this.abort.signal.aborted) return void this.reply.raw.destroy();
      if (!this.started) {
        this.reply.raw.writeHead(statusCode, { 'Content-Type': 'application/json' });
        this.reply.raw.end(`${JSON.stringify({ message })}\n`);
        return;
      }
      this.write({ errorDetail: { message }, error: message });
    }
    if (!this.reply.raw.writableEnded) {
      this.start();
      this.reply.raw.end();
    }
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.reply.raw.writeHead(200, { 'Content-Type': 'application/json' });
  }
}
