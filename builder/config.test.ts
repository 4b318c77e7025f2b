import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from './config.js';
import { BuildError } from './errors.js';

describe('loadConfig', function () {
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(os.tmpdir(), 'builder-config-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  it('reads buildkitd.toml-style registry tables and keeps every section in raw', async function () {
    const file = path.join(dir, 'builder.toml');
    await writeFile(file, [
      '[registry."docker.io"]', 'mirrors = ["http://127.0.0.1:5000", "mirror.local"]',
      '[registry."myreg:5000"]', 'http = true', 'insecure = true',
      '[api]', 'port = 8080', '[worker]', 'concurrency = 2',
    ].join('\n'));
    const config = await loadConfig(file);
    assert.deepEqual(config.registries, { 'docker.io': { mirrors: ['http://127.0.0.1:5000', 'mirror.local'] }, 'myreg:5000': { http: true, insecure: true } });
    assert.deepEqual(config.raw.api, { port: 8080 });
    assert.deepEqual(config.raw.worker, { concurrency: 2 });
  });

  it('reads JSON by extension or by content', async function () {
    const body = JSON.stringify({ registry: { 'docker.io': { mirrors: ['127.0.0.1:5000'] } }, webhooks: { secret: 'x' } });
    for (const name of ['builder.json', 'builder.conf']) {
      const file = path.join(dir, name);
      await writeFile(file, body);
      const config = await loadConfig(file);
      assert.deepEqual(config.registries['docker.io'], { mirrors: ['127.0.0.1:5000'] });
      assert.deepEqual(config.raw.webhooks, { secret: 'x' });
    }
  });

  it('gives an empty config when no file is set', async function () {
    const saved = process.env.BUILDER_CONFIG;
    delete process.env.BUILDER_CONFIG;
    try {
      assert.deepEqual(await loadConfig(), { registries: {}, raw: {} });
    } finally {
      if (saved !== undefined) process.env.BUILDER_CONFIG = saved;
    }
  });

  const cases: [string, string | undefined, RegExp][] = [
    ['missing.toml', undefined, /cannot read the builder config file .*missing\.toml/],
    ['bad.toml', '[registry\nmirrors = 1', /bad\.toml is not valid TOML/],
    ['bad.json', '{"registry": ', /bad\.json is not valid JSON/],
    ['mirrors.toml', '[registry."docker.io"]\nmirrors = "one"', /mirrors\.toml: registry."docker.io".mirrors must be a list/],
    ['flag.json', '{"registry": {"r": {"http": "yes"}}}', /flag\.json: registry."r".http must be true or false/],
  ];
  for (const [name, content, message] of cases) {
    it(`rejects ${name} with INVALID_ARGUMENT naming the file`, async function () {
      const file = path.join(dir, name);
      if (content !== undefined) await writeFile(file, content);
      await assert.rejects(loadConfig(file), (err: unknown) => err instanceof BuildError && err.code === 'INVALID_ARGUMENT' && message.test(err.message));
    });
  }
});
