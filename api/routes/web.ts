/**
 * The farm's web page: `/` serves a small HTML shell, `/ui/app.js` and `/ui/app.css` the page's code, bundled
 * from web/ by esbuild at build time (no CDN, nothing fetched but this API). The files are open like /healthz;
 * every byte of build data the page shows comes from the token-protected /v1 routes.
 * `GET /v1/farm` is the page's header: queue depth by state and the connected workers.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { FarmContext } from '../app.js';
import { requireScope } from '../auth.js';

/** dist/api/routes/web.js → dist/web/. */
const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>builder farm</title>
<link rel="stylesheet" href="/ui/app.css">
</head>
<body>
<div id="app"><noscript>The farm page needs JavaScript.</noscript></div>
<script type="module" src="/ui/app.js"></script>
</body>
</html>
`;

// A strict policy: the page talks to this origin only, and runs only its own script.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function webRoutes(app: FastifyInstance, ctx: FarmContext): Promise<void> {
  const assets = new Map<string, Promise<Buffer>>();
  const asset = (name: string): Promise<Buffer> => {
    let found = assets.get(name);
    if (!found) {
      found = readFile(path.join(WEB_DIR, name));
      found.catch(() => assets.delete(name));
      assets.set(name, found);
    }
    return found;
  };
  const security = { 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    return reply.headers({ ...security, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).send(SHELL);
  });
  for (const [name, type] of [['app.js', 'text/javascript; charset=utf-8'], ['app.css', 'text/css; charset=utf-8']] as const) {
    app.get(`/ui/${name}`, { schema: { hide: true } }, async (_request, reply) => {
      const body = await asset(name).catch(() => undefined);
      if (!body) return reply.code(404).send({ statusCode: 404, code: 'NOT_FOUND', message: `the web page was not built (npm run build writes dist/web/${name})` });
      return reply.headers({ ...security, 'content-type': type, 'cache-control': 'no-cache' }).send(body);
    });
  }

  app.get('/v1/farm', {
    preHandler: requireScope(ctx.farm.api.tokens, 'read'),
    schema: { summary: 'Farm status: queue depth by state and the connected workers', security: [{ bearer: [] }] },
  }, async () => {
    const counts = await ctx.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed');
    const workers = await ctx.queue.getWorkers().catch(() => []);
    return {
      queue: ctx.farm.queue,
      depth: { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0, delayed: counts.delayed ?? 0 },
      workers: workers.map((w) => ({ name: w.name || w.addr || 'worker', address: w.addr, idleSeconds: Number(w.idle ?? 0) })),
    };
  });
}
