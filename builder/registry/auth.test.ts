import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseChallenge } from './auth.js';
import { credentialKey, findCredentials, removeCredentials, saveCredentials } from './credentials.js';
import { isLoopbackHost, pullEndpoints, registryEndpoint } from './endpoints.js';
import { chooseManifest, parsePlatform } from './platform.js';

describe('registry auth pieces', function () {
  it('parses WWW-Authenticate challenges', function () {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
    assert.deepEqual(parseChallenge('Basic realm="test realm"'), { scheme: 'basic', params: { realm: 'test realm' } });
    assert.deepEqual(parseChallenge('bearer realm=http://x/t, error="insufficient_scope"'), { scheme: 'bearer', params: { realm: 'http://x/t', error: 'insufficient_scope' } });
    assert.equal(parseChallenge('Negotiate abc'), undefined);
    assert.equal(parseChallenge(null), undefined);
  });

  it('normalises credential keys the way docker does', function () {
    const table: [string, string][] = [
      ['https://index.docker.io/v1/', 'docker.io'], ['docker.io', 'docker.io'], ['registry-1.docker.io', 'docker.io'],
      ['127.0.0.1:5000', '127.0.0.1:5000'], ['http://MyReg.example:5000/v2/', 'myreg.example:5000'],
    ];
    for (const [server, key] of table) assert.equal(credentialKey(server), key, server);
  });

  it('saves, finds and removes credentials in a docker config file, keeping other keys', async function () {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'docker-config-'));
    try {
      const file = path.join(dir, 'config.json');
      await writeFile(file, JSON.stringify({ auths: { 'other:1': { auth: Buffer.from('o:p').toString('base64') } }, psFormat: 'table {{.ID}}' }));
      await saveCredentials('docker.io', { username: 'u', password: 'p:w' }, file);
      const saved = JSON.parse(await readFile(file, 'utf8')) as { auths: Record<string, unknown>; psFormat: string };
      assert.equal(saved.psFormat, 'table {{.ID}}');
      assert.ok(saved.auths['https://index.docker.io/v1/']);
      assert.deepEqual(await findCredentials('registry-1.docker.io', file), { username: 'u', password: 'p:w' });
      assert.deepEqual(await findCredentials('other:1', file), { username: 'o', password: 'p' });
      assert.equal(await findCredentials('nowhere:1', file), undefined);
      assert.equal(await removeCredentials('docker.io', file), true);
      assert.equal(await removeCredentials('docker.io', file), false);
      assert.equal(await findCredentials('docker.io', file), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('sends loopback and configured hosts over http, others over https, mirrors first', function () {
    assert.equal(isLoopbackHost('127.0.0.1:5000'), true);
    assert.equal(isLoopbackHost('localhost'), true);
    assert.equal(isLoopbackHost('[::1]:5000'), true);
    assert.equal(isLoopbackHost('128.0.0.1'), false);
    const config = { registries: { 'docker.io': { mirrors: ['127.0.0.1:5000', 'https://mirror.example/base/'] }, 'reg.lan:5000': { insecure: true } }, raw: {} };
    assert.deepEqual(pullEndpoints('docker.io', config).map((e) => [e.baseUrl, e.mirror]), [
      ['http://127.0.0.1:5000', true], ['https://mirror.example/base', true], ['https://registry-1.docker.io', false],
    ]);
    assert.equal(registryEndpoint('reg.lan:5000', config).baseUrl, 'http://reg.lan:5000');
    assert.equal(registryEndpoint('ghcr.io', config).baseUrl, 'https://ghcr.io');
  });

  it('chooses the index entry for a platform', function () {
    const entry = (architecture: string, variant?: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${architecture}${variant ?? ''}`, size: 1,
      platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
    });
    const index = { schemaVersion: 2 as const, manifests: [entry('arm', 'v7'), entry('amd64'), entry('arm64', 'v8')] };
    assert.equal(chooseManifest(index, parsePlatform('linux/amd64'), 'x').digest, 'sha256:amd64');
    assert.equal(chooseManifest(index, parsePlatform('linux/arm64'), 'x').digest, 'sha256:arm64v8');
    assert.equal(chooseManifest(index, parsePlatform('linux/arm/v7'), 'x').digest, 'sha256:armv7');
    assert.throws(() => chooseManifest(index, parsePlatform('linux/s390x'), 'image x'), /image x has no linux\/s390x image/);
    assert.throws(() => parsePlatform('amd64'), /invalid platform/);
  });
});
