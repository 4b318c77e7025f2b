/**
 * `GET /containers/{id}/logs` (multiplexed frames unless the container has a TTY; follow, tail, since, until,
 * timestamps) and `POST /containers/{id}/attach`, the hijacked stream `docker run` and `docker start -a` read.
 * Attach follows the container's log from the moment of attaching (conmon owns the process's stdio, and partial
 * lines such as a prompt are sent as they are logged); stdin goes into the container through conmon's attach socket.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { StdinBridge } from '../../builder/containers/attach-stdin.js';
import { DEFAULT_DETACH_KEYS, DetachKeyFilter, parseDetachKeys } from '../../builder/containers/detach-keys.js';
import { readLogs } from '../../builder/containers/logs.js';
import type { LogEntry } from '../../builder/containers/docker-types.js';
import type { DaemonContext } from './daemon-context.js';
import { badRequest } from './errors.js';
import { containerService, idParam } from './containers.js';
import { parseTimestamp } from './events.js';
import { queryBool, queryString, type Query } from './images-query.js';
import { frame, hijack } from './raw-stream.js';

/** `details=1` puts the entry's attributes (log-opt labels/env; we keep none) and a space before the line, as dockerd. */
function entryBytes(entry: LogEntry, timestamps: boolean, details = false): Buffer {
  const line = details ? ` ${entry.line}` : entry.line;
  return Buffer.from(timestamps ? `${entry.time} ${line}` : line);
}

export function containerStreamRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  app.get('/containers/:id/logs', async (request, reply) => {
    const query = request.query as Query;
    const svc = await containerService(ctx);
    const found = await svc.inspect(idParam(request));
    const stdout = queryBool(query, 'stdout');
    const stderr = queryBool(query, 'stderr');
    if (!stdout && !stderr) throw badRequest('you must choose at least one stream');
    const tailText = queryString(query, 'tail');
    const since = parseTimestamp(queryString(query, 'since'), 'since');
    const until = parseTimestamp(queryString(query, 'until'), 'until');
    const timestamps = queryBool(query, 'timestamps');
    const details = queryBool(query, 'details');
    const tty = found.Config.Tty === true;
    const abort = new AbortController();
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
    reply.raw.flushHeaders();
    reply.raw.on('close', () => abort.abort());
    ctx.shutdown.addEventListener('abort', () => abort.abort(), { once: true });
    try {
      for await (const entry of svc.logs(found.Id, {
        follow: queryBool(query, 'follow'), stdout, stderr, timestamps,
        since: since === undefined ? undefined : since / 1e9, until: until === undefined ? undefined : until / 1e9,
        // dockerd's strconv.Atoi: anything but a number (`all`, `abc`, ``) is every line.
        tail: tailText !== undefined && /^\d+$/.test(tailText) ? Number(tailText) : 'all', signal: abort.signal,
      })) {
        if (abort.signal.aborted) break;
        const bytes = entryBytes(entry, timestamps, details);
        reply.raw.write(tty ? bytes : frame(entry.stream === 'stdout' ? 1 : 2, bytes));
      }
    } finally {
      if (!reply.raw.writableEnded) reply.raw.end();
    }
  });

  app.post('/containers/:id/attach', async (request, reply) => {
    const query = request.query as Query;
    const svc = await containerService(ctx);
    const found = await svc.inspect(idParam(request));
    const wantStdout = queryBool(query, 'stdout');
    const wantStderr = queryBool(query, 'stderr');
    const withLogs = queryBool(query, 'logs');
    const tty = found.Config.Tty === true;
    // Lines written from here on belong to this attach (a second of slack for a start racing the attach).
    const since = withLogs ? 0 : Date.now() / 1000 - 1;
    const detachKeys = parseDetachKeys(queryString(query, 'detachKeys') ?? DEFAULT_DETACH_KEYS);
    const raw = hijack(request, reply, !tty);
    // dockerd's `attach` event (between create and start for `docker run`).
    ctx.events.publish('container', 'attach', found.Id, { name: found.Name.replace(/^\//, ''), image: found.Config.Image ?? '' });
    const abort = new AbortController();
    raw.socket.on('close', () => abort.abort());
    // With stdin=1 on an OpenStdin container the client's bytes go to conmon's attach socket (after the start that
    // `docker run` sends once attached; a PassThrough holds them until then). Otherwise they are read and dropped;
    // reading also sees the client's FIN, so the socket can close.
    const withStdin = queryBool(query, 'stdin') && found.Config.OpenStdin === true;
    // Detach keys apply to a TTY only (as dockerd: piped binary input may hold any byte).
    const input = new DetachKeyFilter(tty ? detachKeys : Buffer.alloc(0));
    if (withStdin) {
      raw.socket.pipe(input);
      input.once('detach', () => abort.abort());
    } else raw.socket.on('data', () => undefined).resume();
    ctx.shutdown.addEventListener('abort', () => abort.abort(), { once: true });
    if (!queryBool(query, 'stream') && !withLogs) return raw.end();
    let fd: number | undefined;
    let bridge: StdinBridge | undefined;
    try {
      const { paths } = await svc.find(found.Id);
      // Hold the log open from before the start: a --rm container's log is deleted with it right after it exits,
      // which for a short command can come before the start poll below sees it run. conmon appends to the file
      // (it does not replace it), so creating it here is safe; /proc/self/fd/N keeps naming it after the unlink.
      fd = openSync(found.LogPath, fsConstants.O_RDONLY | (found.State.Status === 'created' ? fsConstants.O_CREAT : 0), 0o640);
      // Wait for the start that `docker run` (or `docker start -a`) sends after attaching. An exited container's
      // next run is a new StartedAt, and its lines come after what the log holds now (the earlier runs').
      const restart = !withLogs && (found.State.Status === 'exited' || found.State.Status === 'dead');
      const fromOffset = restart ? fstatSync(fd).size : undefined;
      const deadline = Date.now() + 60_000;
      for (;;) {
        const state = (await svc.inspect(found.Id).catch(() => undefined))?.State;
        if (abort.signal.aborted || !state || Date.now() > deadline) break;
        const waiting = state.Status === 'created' || (restart && state.StartedAt === found.State.StartedAt && state.Status !== 'running');
        if (!waiting) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (withStdin && !abort.signal.aborted) bridge = await svc.attachStdin(found.Id, input).catch(() => undefined);
      // Followed until conmon has drained the process's pipes into it (its exit file), not just until the process ends.
      const follow = { follow: true, stdout: wantStdout, stderr: wantStderr, since, signal: abort.signal, partial: true, fromOffset };
      for await (const entry of readLogs(`/proc/self/fd/${fd}`, follow, () => svc.logMayGrow(paths))) {
        if (abort.signal.aborted) break;
        (entry.stream === 'stdout' ? raw.stdout : raw.stderr).write(Buffer.from(entry.line));
      }
    } catch (err) {
      request.log.debug({ err }, 'attach ended');
    } finally {
      bridge?.close();
      if (fd !== undefined) closeSync(fd);
      await new Promise((resolve) => setImmediate(resolve));
      raw.end();
    }
  });
}
