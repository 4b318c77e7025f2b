import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import { duplicateFarmRedis, farmRedis } from './farm-redis.js';

describe('worker/farm-redis: the farm\'s connections through a Redis outage', function () {
  this.timeout(30000);
  let redis: RedisServer;
  before(async () => { redis = await startRedis(); });
  after(async () => { await redis?.stop(); });

  it('tells of the outage once per connection while ioredis keeps retrying, and is quiet when it is up', async () => {
    const messages: string[] = [];
    const main = farmRedis(redis.url, (message) => messages.push(`main ${message}`));
    const second = duplicateFarmRedis(main, (message) => messages.push(`second ${message}`));
    try {
      await Promise.all([once(main, 'ready'), once(second, 'ready')]);
      assert.equal(await main.ping(), 'PONG');
      assert.equal(messages.length, 0, messages.join('\n'));
      await redis.stop();
      // Three failed reconnect attempts each (ioredis's retry waits grow from 50 ms).
      // (events.once would reject on the 'error' events themselves: count by hand.)
      await Promise.all([main, second].map((client) => new Promise<void>((resolve) => {
        let attempts = 0;
        client.on('reconnecting', () => { if (++attempts === 3) resolve(); });
      })));
      assert.equal(messages.filter((m) => m.startsWith('main ')).length, 1, messages.join('\n'));
      assert.equal(messages.filter((m) => m.startsWith('second ')).length, 1, messages.join('\n'));
      assert.match(messages.join('\n'), /^main redis: .*ECONNREFUSED.*; reconnecting$/m);
    } finally {
      main.disconnect();
      second.disconnect();
    }
  });
});
