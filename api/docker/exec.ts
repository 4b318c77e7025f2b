/** Exec: create, start (hijacked like attach; multiplexed without a TTY), inspect, resize. */
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ExecCreateBody } from '../../builder/containers/docker-types.js';
import type { DaemonContext } from './daemon-context.js';
import { objectBody, optBool, type JsonObject } from './body.js';
import { badRequest } from './errors.js';
import { containerService, idParam, actorAttributes } from './containers.js';
import { hijack, upgradeBodies } from './raw-stream.js';

const execId = (request: FastifyRequest): string => (request.params as { id: string }).id;

/** ConsoleSize of the exec create/start bodies (API 1.42+): [rows, columns], or null/absent. */
function optConsoleSize(body: JsonObject): [number, number] | undefined {
  const value = body.ConsoleSize;
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length !== 2 || !value.every((n) => Number.isInteger(n) && (n as number) >= 0)) {
    throw badRequest('invalid ConsoleSize: expected [height, width], two non-negative integers');
  }
  return [value[0] as number, value[1] as number];
}

/** The h and w query parameters of a resize. */
function querySize(request: FastifyRequest): [number, number] {
  const query = request.query as Record<string, unknown>;
  const size = (name: 'h' | 'w'): number => {
    const text = typeof query[name] === 'string' ? query[name] as string : '0';
    if (!/^\d+$/.test(text)) throw badRequest(`invalid ${name === 'h' ? 'height' : 'width'}: "${text}"`);
    return Number(text);
  };
  return [size('h'), size('w')];
}

export function execRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  app.post('/containers/:id/exec', async (request, reply) => {
    const body = objectBody(request.body, 'exec create request');
    const cmd = body.Cmd;
    if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === 'string')) throw badRequest('No exec command specified (Cmd must be a non-empty list of strings)');
    for (const key of ['AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'Privileged']) optBool(body, key);
    const consoleSize = optConsoleSize(body);
    const svc = await containerService(ctx);
    const created = await svc.execCreate(idParam(request), { ...body, ConsoleSize: consoleSize } as unknown as ExecCreateBody);
    const found = await svc.inspect(idParam(request));
    ctx.events.publish('container', `exec_create: ${cmd.join(' ')}`, found.Id, { ...actorAttributes(found), execID: created.Id });
    return reply.status(201).send(created);
  });

  app.post('/exec/:id/start', async (request, reply) => {
    const body = objectBody(request.body ?? upgradeBodies.get(request.raw), 'exec start request');
    const detach = optBool(body, 'Detach') === true;
    const consoleSize = optConsoleSize(body);
    const svc = await containerService(ctx);
    const inspect = await svc.execInspect(execId(request));
    const tty = inspect.ProcessConfig?.tty === true;
    // dockerd's exec_start and exec_die events (`docker events` shows both around every exec).
    const container = await svc.inspect(inspect.ContainerID).catch(() => undefined);
    const attributes = { ...actorAttributes(container), execID: inspect.ID };
    const command = [inspect.ProcessConfig.entrypoint, ...inspect.ProcessConfig.arguments].join(' ');
    const started = (): void => void ctx.events.publish('container', `exec_start: ${command}`, inspect.ContainerID, attributes);
    const died = (code: number): void => void ctx.events.publish('container', 'exec_die', inspect.ContainerID, { ...attributes, exitCode: String(code) });
    if (detach) {
      started();
      void svc.execStart(execId(request), {}, { consoleSize }).then(died, (err: unknown) => request.log.warn({ err }, 'detached exec failed'));
      return reply.status(200).send();
    }
    const raw = hijack(request, reply, !tty);
    const stdin = new PassThrough();
    if (inspect.OpenStdin) raw.socket.pipe(stdin);
    else raw.socket.on('data', () => undefined).resume(); // the upgrade left it paused: read to see the FIN
    raw.socket.on('end', () => stdin.end());
    try {
      started();
      died(await svc.execStart(execId(request), { stdin: inspect.OpenStdin ? stdin : undefined, stdout: raw.stdout, stderr: raw.stderr }, { consoleSize }));
    } catch (err) {
      raw.stderr.write(Buffer.from(`${err instanceof Error ? err.message : String(err)}\n`));
    } finally {
      await new Promise((resolve) => setImmediate(resolve));
      raw.end();
    }
  });

  app.get('/exec/:id/json', async (request) => (await containerService(ctx)).execInspect(execId(request)));
  app.post('/exec/:id/resize', async (request, reply) => {
    const [rows, columns] = querySize(request);
    await (await containerService(ctx)).execResize(execId(request), rows, columns);
    return reply.status(200).send();
  });
}
