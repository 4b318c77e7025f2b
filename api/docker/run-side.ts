/**
 * Containers, exec, networks and volumes until the run side's services are merged: empty lists and docker's
 * 404s (so `docker ps` prints an empty table and `docker inspect NAME` falls through to images), 501 otherwise.
 */
import type { FastifyInstance } from 'fastify';
import type { DaemonContext } from './daemon-context.js';
import { notFound, notSupported } from './errors.js';

export function runSideRoutes(app: FastifyInstance, _ctx: DaemonContext): void {
  app.get('/containers/json', async () => []);
  app.get('/networks', async () => []);
  app.get('/volumes', async () => ({ Volumes: [], Warnings: null }));
  app.get('/containers/:id/json', async (request) => { throw notFound(`No such container: ${(request.params as { id: string }).id}`); });
  app.get('/networks/:id', async (request) => { throw notFound(`network ${(request.params as { id: string }).id} not found`); });
  app.get('/volumes/:name', async (request) => { throw notFound(`get ${(request.params as { name: string }).name}: no such volume`); });
  app.get('/exec/:id/json', async (request) => { throw notFound(`No such exec instance: ${(request.params as { id: string }).id}`); });
  for (const prefix of ['/containers', '/exec', '/networks', '/volumes']) {
    app.all(`${prefix}/*`, async () => { throw notSupported('running containers (this daemon was built without the run side)'); });
  }
}
