/**
 * Farm faults: Redis killed and restarted (with its append-only file, as a farm runs it) while a worker is in the
 * middle of a build, and the registry stopped in the middle of the push. No job is lost: the build ends
 * `succeeded`, and the image is in the registry.
 */
import { strict as assert } from 'node:assert';
import { AUTH, startHarness, tarOf, type Harness } from '../../api/test-harness.js';
import { expectSuccess, runCommand } from '../helpers/cli.js';

describe('farm faults: Redis restarted mid-build, registry restarted mid-push', function () {
  this.timeout(180_000);
  let h: Harness;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    skipped: the worker builds with runc and needs root');
      this.skip();
    }
    h = await startHarness({ registry: true, persistentRedis: true });
    await h.startWorker();
  });
  after(async () => h?.close());

  it('a build survives a Redis restart while it runs, and a registry restart while it pushes', async function () {
    const tag = `${h.registry!.host}/faults/redis:1`;
    const body = await tarOf({ Dockerfile: 'FROM busybox\nRUN sleep 2 && head -c 8000000 /dev/urandom > /big\nRUN echo done\n' });
    const response = await h.app.inject({ method: 'POST', url: `/v1/builds?t=${encodeURIComponent(tag)}&push=true`, headers: { ...AUTH, 'content-type': 'application/x-tar' }, payload: body });
    assert.equal(response.statusCode, 202, response.body);
    const id = response.json().id as string;
    await h.waitFor(id, ['running']);
    await h.redis.restart();
    // The push starts after the second RUN; stop the registry as soon as uploads begin, then bring it back.
    const deadline = Date.now() + 60_000;
    let pushing = false;
    while (!pushing && Date.now() < deadline) {
      const record = await h.ctx.records.get(id).catch(() => undefined);
      pushing = record !== undefined && record.steps.length >= 3 && record.steps.every((step) => step.durationMs !== undefined);
      if (record?.state === 'succeeded' || record?.state === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (pushing) await h.registry!.restart();
    console.log(`      faults injected: Redis restart mid-build${pushing ? ', registry restart mid-push' : ' (the push finished before the registry could be restarted)'}`);
    const record = await h.waitFor(id, ['succeeded', 'failed'], 120_000);
    assert.equal(record.state, 'succeeded', JSON.stringify(record.error));
    const inspected = expectSuccess(await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${tag}`]), 'skopeo inspect');
    assert.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, record.imageDigest);
  });
});
