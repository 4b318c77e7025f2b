/** What every endpoint group of the Docker Engine API shares: the engine's store and the daemon's event bus. */
import type { FastifyBaseLogger } from 'fastify';
import type { Engine } from '../../builder/engine.js';
import type { Store } from '../../builder/store/store.js';
import { EventBus } from './event-bus.js';

/** The newest Engine API version we answer, and the oldest (docker's own minimum). */
export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';
export const BUILDER_VERSION = '0.1.0';

export interface DaemonContext {
  /** The one engine (builder/engine.ts) the daemon builds with; `store` is its store. */
  engine: Engine;
  store: Store;
  events: EventBus;
  /** Root of the store, shown by `docker info` as Docker Root Dir. */
  root: string;
  startedAt: Date;
  /** Limits on uploaded bodies (build contexts, image archives). */
  maxBodyBytes: number;
  /** Builds (and pulls, loads) in flight, so SIGTERM can cancel them. */
  running: Set<AbortController>;
  /** Aborted when the daemon shuts down: long streams (events, logs -f) end. */
  shutdown: AbortSignal;
  log?: FastifyBaseLogger;
}

export function makeDaemonContext(engine: Engine, options: { maxBodyBytes?: number; shutdown?: AbortSignal } = {}): DaemonContext {
  const store = engine.store;
  return {
    engine,
    store,
    events: new EventBus(),
    root: store.root,
    startedAt: new Date(),
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024 * 1024,
    running: new Set(),
    shutdown: options.shutdown ?? new AbortController().signal,
  };
}

/** `1.41` → 1041, so versions compare as numbers. */
export function versionNumber(version: string): number {
  const [major, minor] = version.split('.').map(Number);
  return (major ?? 0) * 1000 + (minor ?? 0);
}
