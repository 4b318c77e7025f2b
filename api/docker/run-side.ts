/**
 * Containers and exec until the containers service is merged: empty lists and docker's
 * 404s (so `docker ps` prints an empty table and `docker inspect NAME` falls through to images), 501 otherwise.
 */
import type { FastifyInstance } from 'fastify';
import type { DaemonContext } from './daemon-context.js';
import { notFound, notSupported } from './errors.js';

export function runSideRoutes(app: FastifyInstance, _ctx: DaemonContext): void {
  app.get('/containers/json', async () => []);
  app.get('/containers/:id/json', async (request) => { throw notFound(`No such container: ${(request.params as { id: string }).id}`); });
  app.get('/exec/:id/json', async (request) => { throw notFound(`No such exec instance: ${(request.params as { id: string }).id}`); });
  for (const prefix of ['/containers', '/exec']) {
    app.all(`${prefix}/*`, async () => { throw notSupported('running containers (this daemon was built without the run side)'); });
  }
}
