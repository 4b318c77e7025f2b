/** Images: list, inspect, history, tag, remove, prune. Image names may hold slashes, so `/images/*` is split here. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BuildError } from '../../builder/errors.js';
import { normalizeTag, parseReference } from '../../builder/image/reference.js';
import type { DaemonContext } from './daemon-context.js';
import { badRequest, conflict, notFound } from './errors.js';
import { nameBefore, queryBool, queryString, resolveImage, type Query } from './images-query.js';
import { pushRoute, saveRoute } from './images-transfer.js';
import { boolFilter, globPattern, matchesLabels, parseFilters } from './filters.js';
import { imageHistory, imageInspect, imageSummary, repositoryOf, tagsByManifest } from './image-shapes.js';

const wildcard = (request: FastifyRequest): string => (request.params as { '*': string })['*'];

export function imageRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  app.get('/images/json', async (request) => {
    const query = request.query as Query;
    const filters = parseFilters(queryString(query, 'filters'), ['dangling', 'reference', 'label', 'before', 'since', 'until']);
    // Dangling: an untagged commit, import or image a container still uses (store.keepUntagged), `<none>:<none>`.
    const dangling = boolFilter(filters, 'dangling');
    const references = (filters.get('reference') ?? []).map(globPattern);
    const rows: Record<string, unknown>[] = [];
    for (const [manifestDigest, tags] of await tagsByManifest(ctx.store)) {
      if (dangling !== undefined && dangling !== (tags.length === 0)) continue;
      const shown = references.length === 0 ? tags : tags.filter((tag) => references.some((re) => re.test(tag) || re.test(repositoryOf(tag))));
      if (shown.length === 0 && (tags.length > 0 || references.length > 0)) continue;
      const image = await ctx.store.resolve(manifestDigest);
      if (!image || !matchesLabels(filters, image.config.config.Labels)) continue;
      rows.push(imageSummary(image, shown));
    }
    // Newest first, as dockerd sorts them (a stable sort keeps store order among equal times).
    return rows.sort((a, b) => (b.Created as number) - (a.Created as number));
  });

  app.get('/images/*', async (request, reply) => {
    const path = wildcard(request);
    const saveName = nameBefore(path, 'get');
    if (saveName !== undefined) return saveRoute(ctx, request, reply, [saveName]);
    const inspectName = nameBefore(path, 'json');
    const historyName = nameBefore(path, 'history');
    const name = inspectName ?? historyName;
    if (name === undefined) throw notFound('page not found');
    const image = await resolveImage(ctx, name);
    const tags = (await tagsByManifest(ctx.store)).get(image.manifestDescriptor.digest) ?? [];
    return inspectName !== undefined ? imageInspect(image, tags) : imageHistory(image, tags);
  });

  app.post('/images/*', async (request, reply) => {
    const pushName = nameBefore(wildcard(request), 'push');
    if (pushName !== undefined) return pushRoute(ctx, request, reply, pushName);
    const name = nameBefore(wildcard(request), 'tag');
    if (name === undefined) throw notFound('page not found');
    const query = request.query as Query;
    const repo = queryString(query, 'repo');
    if (!repo) throw badRequest('repository name must have at least one component');
    const tagPart = queryString(query, 'tag');
    const target = tagPart ? `${repo}:${tagPart}` : repo;
    let normalized: string;
    try {
      if (parseReference(target).digest !== undefined) throw badRequest(`refusing to create a tag with a digest reference: ${target}`);
      normalized = normalizeTag(target);
    } catch (err) {
      if (err instanceof BuildError) throw badRequest(err.message);
      throw err;
    }
    const image = await resolveImage(ctx, name);
    await ctx.store.tag(normalized, image.manifestDescriptor);
    ctx.events.publish('image', 'tag', image.manifest.config.digest, { name: normalized });
    return reply.status(201).send();
  });

  app.delete('/images/*', async (request) => {
    const name = wildcard(request);
    const query = request.query as Query;
    const force = queryBool(query, 'force');
    queryBool(query, 'noprune'); // validated; blobs are only ever removed by GC, which keeps referenced ones
    const image = await resolveImage(ctx, name);
    const id = image.manifest.config.digest;
    const tags = (await tagsByManifest(ctx.store)).get(image.manifestDescriptor.digest) ?? [];
    const asTag = tagOf(name);
    const lastName = !(asTag !== undefined && tags.includes(asTag)) || tags.length <= 1;
    if (lastName && !force) {
      const user = (await containersUsing(ctx, id))[0];
      // moby's two wordings: a name given (its last tag) is a repository reference, an id is the image.
      if (user && asTag !== undefined && tags.includes(asTag)) {
        throw conflict(`conflict: unable to remove repository reference "${name}" (must force) - container ${user.Id.slice(0, 12)} is using its referenced image ${id.slice(7, 19)}`);
      }
      if (user) {
        throw conflict(`conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is being used by ${user.State === 'running' ? 'running' : 'stopped'} container ${user.Id.slice(0, 12)}`);
      }
    }
    const deleted: Record<string, string>[] = [];
    let remaining = tags;
    if (asTag !== undefined && tags.includes(asTag)) {
      await untag(ctx, asTag, id);
      deleted.push({ Untagged: asTag });
      remaining = tags.filter((t) => t !== asTag);
    } else {
      if (tags.length > 1 && !force) {
        throw conflict(`conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
      }
      for (const tag of tags) {
        await untag(ctx, tag, id);
        deleted.push({ Untagged: tag });
      }
      remaining = [];
    }
    if (remaining.length === 0) {
      // Forced off its last name, an image a container was made from stays, dangling, for that container (dockerd).
      if ((await containersUsing(ctx, id)).length > 0) {
        await ctx.store.keepUntagged(image.manifestDescriptor);
        return deleted;
      }
      await ctx.store.forgetUntagged(image.manifestDescriptor.digest);
      deleted.push({ Deleted: id });
      ctx.events.publish('image', 'delete', id, { name: asTag ?? name });
    }
    return deleted;
  });

  app.post('/images/prune', async (request) => {
    const filters = parseFilters(queryString(request.query as Query, 'filters'), ['dangling', 'until', 'label', 'label!']);
    const deleted: Record<string, string>[] = [];
    // Dangling images no container uses (`docker image prune`); with `dangling=false` (`-a`) every unused image.
    const all = boolFilter(filters, 'dangling') === false;
    for (const [manifestDigest, tags] of await tagsByManifest(ctx.store)) {
      if (!all && tags.length > 0) continue;
      const image = await ctx.store.resolve(manifestDigest);
      if (!image || !matchesLabels(filters, image.config.config.Labels)) continue;
      if ((await containersUsing(ctx, image.manifest.config.digest)).length > 0) continue;
      for (const tag of tags) {
        await untag(ctx, tag, image.manifest.config.digest);
        deleted.push({ Untagged: tag });
      }
      await ctx.store.forgetUntagged(manifestDigest);
      deleted.push({ Deleted: image.manifest.config.digest });
      ctx.events.publish('image', 'delete', image.manifest.config.digest, { name: tags[0] ?? '' });
    }
    const { prune } = await import('../../builder/store/gc.js');
    const report = await prune(ctx.store, {});
    ctx.events.publish('image', 'prune', '', { reclaimed: String(report.reclaimed) });
    return { ImagesDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: report.reclaimed };
  });
}

/** Containers (any state) made from the image with config digest `id`. */
async function containersUsing(ctx: DaemonContext, id: string): Promise<{ Id: string; State: string }[]> {
  const { containerService } = await import('./containers.js');
  const all = await (await containerService(ctx)).list({ all: true }).catch(() => []);
  return all.filter((c) => c.ImageID === id);
}

async function untag(ctx: DaemonContext, tag: string, id: string): Promise<void> {
  await ctx.store.untag(tag);
  ctx.events.publish('image', 'untag', id, { name: tag });
}

/** The stored tag a name means (`busybox` → `busybox:latest`); undefined for ids and digests. */
function tagOf(name: string): string | undefined {
  try {
    return parseReference(name).digest === undefined ? normalizeTag(name) : undefined;
  } catch {
    return undefined;
  }
}
