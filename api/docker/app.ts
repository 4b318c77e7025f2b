/**
 * The Docker Engine API as a fastify app (podman's compat API is the model): versioned (`/v1.47/…`) and
 * unversioned paths, docker's headers, `{"message"}` errors, and one file per endpoint group.
 */
import { ServerResponse, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { API_VERSION, BUILDER_VERSION, MIN_API_VERSION, versionNumber, type DaemonContext } from './daemon-context.js';
import { DockerApiError, badRequest, toDockerError } from './errors.js';
import { upgradeBodies, upgradedSockets } from './raw-stream.js';
import { buildRoutes } from './build.js';
import { imageRoutes } from './images.js';
import { imageTransferRoutes } from './images-transfer.js';
import { networkRoutes } from './networks.js';
import { archiveRoutes } from './archive.js';
import { containerStreamRoutes } from './container-streams.js';
import { containerRoutes } from './containers.js';
import { containerChangeRoutes } from './container-changes.js';
import { execRoutes } from './exec.js';
import { volumeRoutes } from './volumes.js';
import { systemRoutes } from './system.js';

const VERSIONED = /^\/v(\d+\.\d+)(\/.*)$/;
/** The API version each request asked for (from its path), for handlers whose answer depends on it. */
const requestedVersion = new WeakMap<IncomingMessage, string>();



export interface DockerAppOptions {
  logger?: boolean | { level: string; stream?: NodeJS.WritableStream };
  /** Makes the HTTP(S) server (TLS listeners); plain http by default. */
  serverFactory?: (handler: RequestListener) => Server;
  /** Requests must carry `Authorization: Bearer <token>` (TCP listeners without TLS client certificates). */
  checkAuthorization?: (header: string | undefined) => boolean;
}

export function createDockerApp(ctx: DaemonContext, options: DockerAppOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? false,
    ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
    // JSON bodies (container create, exec); build contexts and archives are streamed past this limit.
    bodyLimit: 4 * 1024 * 1024,
    rewriteUrl: (req) => {
      const url = req.url ?? '/';
      const match = VERSIONED.exec(url);
      if (!match) return url;
      requestedVersion.set(req, match[1]!);
      return match[2]!;
    },
  });
  ctx.log = app.log;

  // Docker clients send JSON with or without a body, and tars; nothing else is parsed here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(badRequest(`invalid JSON in the request body: ${(err as Error).message}`), undefined);
    }
  });
  // Tars and anything else stay unread: the handler streams request.raw itself (with its own size limit).
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  app.addHook('onRequest', async (request, reply) => {
    if (options.checkAuthorization && !options.checkAuthorization(request.headers.authorization)) {
      throw new DockerApiError(401, 'unauthorized: this daemon needs "Authorization: Bearer <token>" (HttpHeaders in the docker CLI config)');
    }
    reply.raw.setHeader('Api-Version', API_VERSION);
    reply.raw.setHeader('Docker-Experimental', 'false');
    reply.raw.setHeader('Ostype', 'linux');
    reply.raw.setHeader('Server', `Docker/${BUILDER_VERSION} (linux)`);
    // "1" = the classic builder: the CLI then sends a tar context to POST /build instead of looking for buildx.
    reply.raw.setHeader('Builder-Version', '1');
    const version = requestedVersion.get(request.raw);
    if (version === undefined) return;
    if (versionNumber(version) > versionNumber(API_VERSION)) {
      throw badRequest(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
    }
    if (versionNumber(version) < versionNumber(MIN_API_VERSION)) {
      throw badRequest(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
    }
  });

  // The docker CLI only decodes `{"message"}` when Content-Type is exactly application/json (no charset).
  app.addHook('onSend', async (_request, reply, payload) => {
    const type = reply.getHeader('content-type');
    if (typeof type === 'string' && type.startsWith('application/json')) reply.header('content-type', 'application/json');
    return payload;
  });

  app.setErrorHandler((err, request, reply) => {
    const { statusCode, message, internal } = toDockerError(err);
    if (internal) request.log.error({ err }, 'request failed');
    else request.log.debug({ statusCode, message }, 'request refused');
    void reply.status(statusCode).type('application/json').send({ message });
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).type('application/json').send({ message: 'page not found' });
  });

  // attach and exec start arrive as `Connection: Upgrade`: Node then detaches its HTTP parser and hands over the
  // socket, which must stay half-open (the CLI closes its write side when it has no stdin). Route them as usual.
  // Their small JSON body (exec start's {"Detach":false}) is still on the socket: read it into the request first.
  app.server.on('upgrade', (req: IncomingMessage, socket: import('node:net').Socket, head: Buffer) => {
    const length = Math.min(Number(req.headers['content-length'] ?? 0) || 0, 1024 * 1024);
    let buffered = head;
    upgradedSockets.add(socket);
    socket.once('close', () => upgradedSockets.delete(socket));
    // A client that announces a body and never sends it does not keep a socket forever.
    const silent = setTimeout(() => socket.destroy(), 10_000);
    const route = (): void => {
      clearTimeout(silent);
      socket.off('data', collect);
      socket.pause();
      const rest = buffered.subarray(length);
      if (rest.length > 0) socket.unshift(rest);
      // fastify must not wait for a body the socket no longer delivers: hand it over beside the request.
      if (length > 0) {
        const text = buffered.subarray(0, length).toString('utf8');
        try {
          upgradeBodies.set(req, JSON.parse(text));
        } catch {
          upgradeBodies.set(req, text);
        }
      }
      delete req.headers['content-length'];
      delete req.headers['content-type'];
      const res = new ServerResponse(req);
      res.assignSocket(socket);
      app.routing(req, res);
    };
    const collect = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= length) route();
    };
    if (buffered.length >= length) route();
    else socket.on('data', collect);
  });

  systemRoutes(app, ctx);
  imageRoutes(app, ctx);
  imageTransferRoutes(app, ctx);
  buildRoutes(app, ctx);
  networkRoutes(app, ctx);
  volumeRoutes(app, ctx);
  containerRoutes(app, ctx);
  containerChangeRoutes(app, ctx);
  containerStreamRoutes(app, ctx);
  execRoutes(app, ctx);
  archiveRoutes(app, ctx);
  return app;
}
