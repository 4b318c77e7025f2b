/** Images that cross the daemon's edge: pull (`/images/create`), push, load (`/images/load`), save (`/images/get`). */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { loadConfig } from '../../builder/config.js';
import { familiarName, parseReference } from '../../builder/image/reference.js';
import { withBuildLease } from '../../builder/store/gc-lease.js';
import type { DaemonContext } from './daemon-context.js';
import { badRequest, notFound } from './errors.js';
import { queryBool, queryString, resolveImage } from './images-query.js';
import { JsonStream, type JsonMessage } from './json-stream.js';
import { credentialsFromHeader } from './registry-auth.js';
import { receiveBodyToFile } from './request-body.js';

type Query = Record<string, string | string[] | undefined>;

/** The engine's progress lines (`abc123def456: pull complete`) as docker's status messages. */
export function progressMessage(line: string): JsonMessage {
  const layer = /^([0-9a-f]{12}): (.+)$/.exec(line);
  if (layer) return { status: layer[2]!.charAt(0).toUpperCase() + layer[2]!.slice(1), id: layer[1]! };
  const pulling = /^(\S+): pulling from \S+?\/(.+)$/.exec(line);
  if (pulling) return { status: `Pulling from ${pulling[2]!}`, id: pulling[1]! };
  return { status: line };
}

/** `fromImage` + `tag` (a tag or a digest), as the CLI splits them. */
export function pullReference(fromImage: string, tag: string | undefined): string {
  if (!tag) return fromImage;
  return /^sha256:[0-9a-f]{64}$/.test(tag) ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
}

async function tracked<T>(ctx: DaemonContext, stream: JsonStream, task: () => Promise<T>): Promise<T> {
  const abort = stream.abort;
  ctx.running.add(abort);
  try {
    return await task();
  } finally {
    ctx.running.delete(abort);
  }
}

export function imageTransferRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  app.post('/images/create', async (request, reply) => {
    const query = request.query as Query;
    const fromSrc = queryString(query, 'fromSrc');
    if (fromSrc !== undefined) return (await import('./image-import.js')).importRoute(ctx, request, reply, fromSrc);
    const fromImage = queryString(query, 'fromImage');
    if (!fromImage) throw badRequest('fromImage is required (the image to pull)');
    const ref = pullReference(fromImage, queryString(query, 'tag'));
    let name: string;
    try {
      name = familiarName(parseReference(ref));
    } catch (err) {
      throw badRequest((err as Error).message);
    }
    const credentials = credentialsFromHeader(request.headers['x-registry-auth']);
    const platform = queryString(query, 'platform') || undefined;
    const stream = new JsonStream(request, reply);
    await stream.run(() => tracked(ctx, stream, async () => {
      const { pullImage } = await import('../../builder/registry/pull.js');
      const config = await loadConfig();
      let downloaded = false;
      let held: JsonMessage | undefined;
      await withBuildLease(ctx.store.root, () => pullImage(ctx.store, ref, {
        platform, config, credentials, signal: stream.signal,
        onProgress: (line) => {
          if (/: pull complete$/.test(line)) downloaded = true;
          if (line.startsWith('Status: ')) return;
          // "Pulling from" waits for the next line: a missing image is then a plain 404, as dockerd answers.
          if (held) stream.write(held);
          held = progressMessage(line);
        },
      }));
      if (held) stream.write(held);
      stream.write({ status: downloaded ? `Status: Downloaded newer image for ${name}` : `Status: Image is up to date for ${name}` });
      ctx.events.publish('image', 'pull', name, { name });
    }));
  });

  app.post('/images/load', async (request, reply) => {
    const quiet = queryBool(request.query as Query, 'quiet');
    const archive = ctx.store.tempPath('daemon-load');
    try {
      // Read the whole archive before answering: a bad upload is then a plain 400/413.
      await receiveBodyToFile(request, archive, ctx.maxBodyBytes);
      const stream = new JsonStream(request, reply);
      await stream.run(async () => {
        const { loadImages } = await import('../../builder/store/archive-load.js');
        const { unpackImages } = await import('../../builder/snapshot/unpack-images.js');
        const names = await withBuildLease(ctx.store.root, async () => {
          const loaded = await loadImages(ctx.store, archive);
          await unpackImages(ctx.store, loaded);
          return loaded;
        });
        for (const name of names) {
          const text = name.startsWith('sha256:') ? `Loaded image ID: ${name}` : `Loaded image: ${name}`;
          ctx.events.publish('image', 'load', name, { name });
          stream.write({ stream: `${text}\n` });
        }
        void quiet;
      });
    } finally {
      await rm(archive, { force: true });
    }
  });

  app.get('/images/get', async (request, reply) => {
    const names = request.query as Query;
    const list = names.names === undefined ? [] : Array.isArray(names.names) ? names.names : [names.names];
    return saveRoute(ctx, request, reply, list.flatMap((n) => n.split(',')).filter(Boolean));
  });
}

/** `docker save`: an OCI layout with docker's manifest.json (what dockerd ≥ 25 writes), streamed from a temp file. */
export async function saveRoute(ctx: DaemonContext, request: FastifyRequest, reply: FastifyReply, names: string[]): Promise<void> {
  if (names.length === 0) throw badRequest('no images named to save');
  for (const name of names) await resolveImage(ctx, name);
  const { saveImages } = await import('../../builder/store/archive-save.js');
  const file = ctx.store.tempPath('daemon-save');
  try {
    await withBuildLease(ctx.store.root, () => saveImages(ctx.store, names, file, 'oci'));
    for (const name of names) ctx.events.publish('image', 'save', name, { name });
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await pipeline(createReadStream(file), reply.raw).catch((err: unknown) => request.log.warn({ err }, 'save stream ended early'));
  } finally {
    await rm(file, { force: true });
  }
}

/** `POST /images/{name}/push?tag=`: blobs, then the manifest, with docker's progress and the aux digest. */
export async function pushRoute(ctx: DaemonContext, request: FastifyRequest, reply: FastifyReply, name: string): Promise<void> {
  const tag = queryString(request.query as Query, 'tag');
  const source = tag ? pullReference(name, tag) : name;
  const image = await ctx.store.resolve(source).catch(() => undefined);
  if (!image) throw notFound(`An image does not exist locally with the tag: ${source}`);
  const credentials = credentialsFromHeader(request.headers['x-registry-auth']);
  const repository = (() => { try { return familiarName({ ...parseReference(source), tag: undefined, digest: undefined }); } catch { return name; } })();
  const stream = new JsonStream(request, reply);
  await stream.run(() => tracked(ctx, stream, async () => {
    const { pushImage } = await import('../../builder/registry/push.js');
    stream.write({ status: `The push refers to repository [${repository}]` });
    const config = await loadConfig();
    const result = await pushImage(ctx.store, source, source, {
      config, credentials, signal: stream.signal, onProgress: (line) => stream.write(progressMessage(line)),
    });
    const size = (await ctx.store.readBlob(result.digest)).length;
    stream.write({ aux: { Tag: parseReference(source).tag ?? 'latest', Digest: result.digest, Size: size } });
    ctx.events.publish('image', 'push', source, { name: source });
  }));
}
