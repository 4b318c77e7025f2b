/**
 * One `builder daemon`: the store, one event bus, and a fastify app per `-H` listener (a TLS or token listener
 * differs only in its server and auth check). `close()` is idempotent: it ends streams, cancels builds and
 * pulls in flight, and closes the listeners; containers are left running (their monitors own them).
 */
import type { FastifyInstance } from 'fastify';
import { BuildError } from '../../builder/errors.js';
import { cacheOptionsFromEnv, createEngine } from '../../builder/engine.js';
import { createDockerApp } from './app.js';
import { makeDaemonContext, type DaemonContext } from './daemon-context.js';
import { watchExits } from './exit-watcher.js';
import { upgradedSockets } from './raw-stream.js';
import { bearerCheck, isLoopback, listenOn, parseHost, tlsServerFactory, type ListenAddress, type TlsFiles } from './listen.js';

export interface DaemonOptions {
  root: string;
  hosts: string[];
  group?: string;
  tls?: TlsFiles;
  /** Bearer token for TCP listeners without client certificates. */
  token?: string;
  maxBodyBytes?: number;
  logLevel?: string;
}

export interface RunningDaemon {
  ctx: DaemonContext;
  addresses: ListenAddress[];
  close(): Promise<void>;
}

/** Refuses a TCP listener that anyone off this machine could use without proving who they are. */
export function checkExposure(address: ListenAddress, options: DaemonOptions): void {
  if (address.kind !== 'tcp' || isLoopback(address.host) || options.tls || options.token) return;
  throw new BuildError('INVALID_ARGUMENT',
    `refusing to listen on tcp://${address.host}:${address.port} without authentication: anyone who reaches it is root here. ` +
    'Pass --tlsverify --tlscacert --tlscert --tlskey, or --auth-token-file, or bind to 127.0.0.1');
}

export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const addresses = options.hosts.map(parseHost);
  for (const address of addresses) checkExposure(address, options);
  const engine = await createEngine({ root: options.root, cache: cacheOptionsFromEnv() });
  const shutdown = new AbortController();
  const ctx = makeDaemonContext(engine, { maxBodyBytes: options.maxBodyBytes, shutdown: shutdown.signal });
  watchExits(ctx);
  const apps: FastifyInstance[] = [];
  const logger = { level: options.logLevel ?? 'info', stream: process.stderr };
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shutdown.abort();
      for (const running of ctx.running) running.abort();
      // A ref'd timer bounds every wait, so shutdown ends even when a hijacked socket never reports its close.
      // A bound that fires is logged: it names what held shutdown up (and lets a test see it did not happen).
      const bounded = async (task: Promise<unknown>, ms: number, app: FastifyInstance, what: string): Promise<void> => {
        let timer: NodeJS.Timeout | undefined;
        let timedOut = false;
        await Promise.race([task, new Promise((resolve) => { timer = setTimeout(() => { timedOut = true; resolve(undefined); }, ms); })]);
        clearTimeout(timer);
        if (timedOut) app.log.warn(`shutdown: ${what} still open after ${ms} ms; cutting them`);
      };
      await Promise.all(apps.map(async (app) => {
        await bounded(new Promise<void>((resolve) => {
          app.server.close(() => resolve());
          app.server.closeIdleConnections();
        }), 2000, app, 'connections');
        // Streams were told to end; anything still open (a silent upload, an attach) is cut.
        app.server.closeAllConnections();
        for (const socket of upgradedSockets) socket.destroy();
        await bounded(app.close(), 2000, app, 'request handlers');
      }));
      await engine.close();
    })();
    return closing;
  };
  try {
    for (const address of addresses) {
      const tcp = address.kind === 'tcp';
      const app = createDockerApp(ctx, {
        logger,
        serverFactory: tcp && options.tls ? tlsServerFactory(options.tls) : undefined,
        checkAuthorization: tcp && !options.tls && options.token ? bearerCheck(options.token) : undefined,
      });
      apps.push(app);
      await app.ready();
      await listenOn(app.server, address, options.group);
      app.log.info({ address }, 'builder daemon listening');
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { ctx, addresses, close };
}
