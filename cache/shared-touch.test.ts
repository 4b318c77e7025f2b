import { strict as assert } from 'node:assert';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import { TouchBatch } from './shared-touch.js';

const digest = (c: string): string => `sha256:${c.repeat(64)}`;

/** How many ZADD commands Redis has run (INFO commandstats), to tell one write from one per hit. */
async function zaddCalls(redis: Redis): Promise<number> {
  const match = /cmdstat_zadd:calls=(\d+)/.exec(await redis.info('commandstats'));
  return match ? Number(match[1]) : 0;
}

describe('shared cache last-use stamps (TouchBatch, real Redis)', function () {
  this.timeout(20_000);
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  after(async () => {
    await redis?.quit();
    await server?.stop();
  });

  it('a burst of hits is one write of both stamps; close-time flush sends what is pending', async () => {
    const batch = new TouchBatch(redis, 't:');
    const before = Date.now();
    batch.add('k1', digest('a'));
    batch.add('k2', undefined);
    batch.add('k3', digest('b'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await zaddCalls(redis), 2, 'one ZADD for lru and one for inuse, not one pair per hit');
    assert.deepEqual(await redis.zrange('t:lru', '0', '-1'), ['k1', 'k2', 'k3']);
    assert.deepEqual((await redis.zrange('t:inuse', '0', '-1')).sort(), [digest('a'), digest('b')]);
    assert.ok(Number(await redis.zscore('t:lru', 'k2')) >= before);
    batch.add('k4', undefined);
    batch.flush();
    // The write is sent, not awaited; a command after it on the same connection sees it.
    assert.equal(Number(await redis.zcard('t:lru')), 4);
    assert.equal(await redis.zscore('t:inuse', 'k4'), null, 'a record without a layer stamps no blob');
  });
});
