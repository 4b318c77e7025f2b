import { Redis } from 'ioredis';

/**
 * The farm's Redis connections (api and worker): BullMQ needs `maxRetriesPerRequest: null`. ioredis keeps
 * reconnecting through an outage and, with no 'error' listener, prints every failed attempt as "[ioredis] Unhandled
 * error event" with a stack; here each connection tells `warn` once when it goes down and once when it is back.
 */
export function farmRedis(url: string, warn: (message: string) => void): Redis {
  return watched(new Redis(url, { maxRetriesPerRequest: null }), warn);
}

/** Another connection with `redis`'s options (a subscriber, BullMQ's), told the same way. */
export function duplicateFarmRedis(redis: Redis, warn: (message: string) => void): Redis {
  return watched(redis.duplicate(), warn);
}

function watched(redis: Redis, warn: (message: string) => void): Redis {
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    warn(`redis: ${err.message}; reconnecting`);
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    warn('redis: connected again');
  });
  return redis;
}
