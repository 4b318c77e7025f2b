/**
 * `POST /build`: the tar context `docker build` sends without buildx (DOCKER_BUILDKIT=0), unpacked with the engine's
 * confined extractor, built by the same engine and cache as `builder build`, answered with the classic JSON stream.
 * A client that goes away mid-build cancels it (the stream's AbortSignal reaches runc).
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BuildError, BuildErrors, errorMessage } from '../../builder/errors.js';
import type { BuildEvent } from '../../builder/events.js';
import { extractTarStream } from '../../builder/layer/extract-tar.js';
import { defaultDockerfileName } from '../../builder/context/context-dir.js';
import type { BuildCall, EngineBuildRequest } from '../../builder/engine.js';
import type { DaemonContext } from './daemon-context.js';
import { DockerApiError, badRequest } from './errors.js';
import { buildErrorMessage, buildEventMessages } from './build-messages.js';
import { parseBuildParams } from './build-params.js';
import { namedContextDir } from './build-context-dir.js';
import type { Query } from './images-query.js';
import { JsonStream } from './json-stream.js';
import { limitedBody, tooLarge } from './request-body.js';

/** builder's own CLI asks for the engine's BuildEvents instead of docker's messages (same progress as embedded). */
export const BUILDER_EVENTS_HEADER = 'x-builder-events';

/** The one place the daemon calls the engine's build. */
async function engineBuild(ctx: DaemonContext, request: EngineBuildRequest, call: BuildCall): Promise<{ configDigest: string; manifestDigest: string; tags: string[] }> {
  const result = await ctx.engine.build(request, call);
  try {
    const { autoGc } = await import('../../builder/store/gc-auto.js');
    await autoGc(ctx.store);
  } catch (err) {
    ctx.log?.warn({ err }, 'automatic garbage collection failed');
  }
  return { configDigest: (await ctx.store.resolve(result.manifest.digest))?.manifest.config.digest ?? result.manifest.digest, manifestDigest: result.manifest.digest, tags: result.tags };
}

/** Unpacks a (possibly gzip'd) context tar; `..`, absolute escapes and links out of the directory are 400s. */
async function unpackContext(body: NodeJS.ReadableStream, dir: string, limit: number): Promise<void> {
  const input = body as Readable;
  const first = await new Promise<Buffer | null>((resolve, reject) => {
    input.once('readable', () => resolve(input.read(2) as Buffer | null));
    input.once('error', reject);
    input.once('end', () => resolve(null));
  });
  if (first === null) throw badRequest('the build context is empty: send a tar of the context directory');
  input.unshift(first);
  let tarStream: Readable = input;
  if (first[0] === 0x1f && first[1] === 0x8b) {
    // Unpacked size is bounded too, against gzip bombs.
    let unpacked = 0;
    const gunzip = createGunzip();
    const counted = new PassThrough();
    gunzip.on('data', (chunk: Buffer) => {
      unpacked += chunk.length;
      if (unpacked > limit * 4) counted.destroy(tooLarge(limit * 4));
    });
    input.pipe(gunzip).pipe(counted);
    input.on('error', (err) => counted.destroy(err));
    gunzip.on('error', (err) => counted.destroy(err));
    tarStream = counted;
  }
  try {
    await extractTarStream(tarStream, dir, { whiteouts: 'none' });
  } catch (err) {
    if (err instanceof DockerApiError) throw err;
    throw badRequest(`invalid build context: ${errorMessage(err)}`);
  }
}

/** The name errors show: `docker build -f -` sends the Dockerfile as `.dockerfile.<random>`, which users never typed. */
function dockerfileName(param: string): string {
  const base = path.basename(param);
  return /^\.dockerfile\.[0-9a-f]+$/.test(base) ? 'Dockerfile' : base;
}

/** What builder's own CLI needs to print an engine error exactly as an embedded build does. */
export interface SerializedBuildError {
  code: BuildError['code'];
  message: string;
  file?: string;
  line?: number;
  detail?: string;
  errors?: SerializedBuildError[];
}

function serializeError(err: BuildError): SerializedBuildError {
  const out: SerializedBuildError = { code: err.code, message: err.message, file: err.file, line: err.line, detail: err.detail };
  if (err instanceof BuildErrors) out.errors = err.errors.map(serializeError);
  return out;
}

export function buildRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  app.post('/build', (request, reply) => buildRoute(ctx, request, reply));
  app.post('/build/prune', async () => {
    const { prune } = await import('../../builder/store/gc.js');
    const report = await prune(ctx.store, { all: true });
    return { CachesDeleted: report.records.map((r) => r.key), SpaceReclaimed: report.reclaimed };
  });
}

async function buildRoute(ctx: DaemonContext, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const params = parseBuildParams(request.query as Query, ctx);
  const namedDir = params.git ? undefined : await namedContextDir(request);
  const workDir = ctx.store.tempPath('daemon-context');
  if (!namedDir) await mkdir(workDir, { recursive: true, mode: 0o700 });
  try {
    let contextDir = workDir;
    if (namedDir) {
      contextDir = namedDir;
    } else if (params.git) {
      // `remote=` git repository: fetched like the farm's git contexts (no prompt, plain refs, url schemes checked).
      const [{ validateGitSource }, { gitFetch }, { PERMISSIVE_GIT_POLICY }] = await Promise.all([
        import('../../builder/request.js'), import('../../worker/fetch-context.js'), import('../../builder/git-policy.js')]);
      try {
        // Whoever reaches the daemon's socket is root here, as for the local CLI: any git URL the user names
        // (the farm's [git] policy is for submitters who are not).
        validateGitSource(params.git.url, params.git.ref, PERMISSIVE_GIT_POLICY);
        await gitFetch(params.git.url, params.git.ref, workDir, undefined, true);
      } catch (err) {
        throw badRequest(`unable to prepare context: ${errorMessage(err)}`);
      }
      contextDir = path.join(workDir, params.git.subdir);
    } else {
      await unpackContext(limitedBody(request, ctx.maxBodyBytes), contextDir, ctx.maxBodyBytes);
    }
    if (params.dockerfile === 'Dockerfile') params.dockerfile = defaultDockerfileName(contextDir);
    const dockerfilePath = path.resolve(contextDir, params.dockerfile);
    if (path.relative(contextDir, dockerfilePath).startsWith('..')) throw badRequest(`the Dockerfile (${params.dockerfile}) must be within the build context`);
    if (!(await stat(dockerfilePath).then((s) => s.isFile(), () => false))) throw badRequest(`Cannot locate specified Dockerfile: ${params.dockerfile}`);
    const rawEvents = request.headers[BUILDER_EVENTS_HEADER] === '1';
    const stream = new JsonStream(request, reply);
    ctx.running.add(stream.abort);
    const onEvent = (event: BuildEvent): void => {
      if (rawEvents) return stream.write({ aux: { builderEvent: event } });
      if (params.quiet) return;
      for (const message of buildEventMessages(event)) stream.write(message);
    };
    try {
      await stream.run(async () => {
        try {
          const result = await engineBuild(ctx, {
            contextDir, dockerfilePath, dockerfileName: dockerfileName(params.dockerfile), tags: params.tags,
            buildArgs: params.buildArgs, target: params.target, noCache: params.noCache, network: params.network,
            memoryBytes: params.memoryBytes, labels: params.labels, pull: params.pull, ephemeralContext: !namedDir, keepContextHashes: namedDir !== undefined,
          }, { onEvent, signal: stream.signal });
          stream.write({ aux: { ID: result.configDigest, ManifestDigest: result.manifestDigest } });
          if (params.quiet) stream.write({ stream: `${result.configDigest}\n` });
          else stream.write({ stream: `Successfully built ${result.configDigest.slice(7, 19)}\n` });
          for (const tag of result.tags) {
            if (!params.quiet) stream.write({ stream: `Successfully tagged ${tag}\n` });
            ctx.events.publish('image', 'tag', result.configDigest, { name: tag });
          }
        } catch (err) {
          if (err instanceof BuildError && err.code === 'CANCELLED') request.log.info('build cancelled: the client went away');
          if (rawEvents && err instanceof BuildError) stream.write({ aux: { builderError: serializeError(err) } });
          stream.write(buildErrorMessage(err));
        }
      });
    } finally {
      ctx.running.delete(stream.abort);
    }
  } finally {
    if (!namedDir) await rm(workDir, { recursive: true, force: true });
  }
}
