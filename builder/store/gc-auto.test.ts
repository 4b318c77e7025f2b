import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gcGraceMs, gcKeepStorage } from './gc-auto.js';

describe('gc settings', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gc-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is off without the env var or a config file', async () => {
    assert.equal(await gcKeepStorage({}), undefined);
  });

  it('reads [gc] keepStorage from the TOML or JSON config file; the env var wins', async () => {
    const toml = path.join(dir, 'builder.toml');
    await writeFile(toml, '[gc]\nkeepStorage = "10g"\n');
    assert.equal(await gcKeepStorage({ BUILDER_CONFIG: toml }), 10 * 1024 ** 3);
    const json = path.join(dir, 'builder.json');
    await writeFile(json, JSON.stringify({ gc: { keepStorage: 5000 } }));
    assert.equal(await gcKeepStorage({ BUILDER_CONFIG: json }), 5000);
    assert.equal(await gcKeepStorage({ BUILDER_CONFIG: toml, BUILDER_GC_KEEP_STORAGE: '512m' }), 512 * 1024 ** 2);
  });

  it('rejects sizes it cannot read, naming the setting', async () => {
    await assert.rejects(gcKeepStorage({ BUILDER_GC_KEEP_STORAGE: 'lots' }), /BUILDER_GC_KEEP_STORAGE/);
    const bad = path.join(dir, 'bad.toml');
    await writeFile(bad, '[gc]\nkeepStorage = true\n');
    await assert.rejects(gcKeepStorage({ BUILDER_CONFIG: bad }), /\[gc\] keepStorage/);
  });

  it('reads BUILDER_GC_GRACE as a duration', () => {
    assert.equal(gcGraceMs({}), undefined);
    assert.equal(gcGraceMs({ BUILDER_GC_GRACE: '5m' }), 300_000);
  });
});
