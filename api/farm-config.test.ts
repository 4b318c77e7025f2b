import { strict as assert } from 'node:assert';
import { BuildError } from '../builder/errors.js';
import { expandTemplate, farmConfig, parseTokenList } from './farm-config.js';

describe('farm config', () => {
  it('reads tokens from the environment with optional scopes', () => {
    assert.deepEqual(parseTokenList('ci:abc, ro:def:read, ops:ghi:read+cancel'), [
      { name: 'ci', token: 'abc', scopes: ['read', 'build', 'cancel'] },
      { name: 'ro', token: 'def', scopes: ['read'] },
      { name: 'ops', token: 'ghi', scopes: ['read', 'cancel'] },
    ]);
    assert.throws(() => parseTokenList('justaname'), BuildError);
    assert.throws(() => parseTokenList('a:b:write'), /unknown scope "write"/);
  });

  it('merges file sections and environment, the environment winning', () => {
    const farm = farmConfig({
      api: { port: 9000, tokens: [{ name: 'file', token: 't', scopes: ['read'] }] },
      worker: { concurrency: 3, queue: 'q-file', redis: 'redis://file:6379' },
      webhooks: { github_secret: 'file-secret', repositories: [{ repository: 'org/app', tags: ['r.example/org/app:{short_sha}'] }] },
    }, { BUILDER_API_TOKENS: 'env:e', BUILDER_GITHUB_WEBHOOK_SECRET: 'env-secret', BUILDER_REDIS_URL: 'redis://env:1' });
    assert.equal(farm.api.port, 9000);
    assert.deepEqual(farm.api.tokens.map((t) => t.name), ['file', 'env']);
    assert.equal(farm.worker.concurrency, 3);
    assert.equal(farm.queue, 'q-file');
    assert.equal(farm.redisUrl, 'redis://env:1');
    assert.equal(farm.webhooks.githubSecret, 'env-secret');
    assert.equal(farm.webhooks.repositories[0]!.push, true, 'push defaults on when tags are set');
  });

  it('rejects bad values with the key named', () => {
    assert.throws(() => farmConfig({ api: { port: 'x' } }, {}), /\[api\] port/);
    assert.throws(() => farmConfig({ worker: { network: 'bridge' } }, {}), /network/);
    assert.throws(() => farmConfig({ webhooks: { repositories: { 'org/app': { tags: ['Bad:{sha}'] } } } }, {}), /invalid tag/);
  });

  it('reads the shared cache settings, BUILDER_CACHE_REPO winning, and rejects bad ones', () => {
    const farm = farmConfig({ worker: { cache_repo: 'reg:5000/file/cache', cache_mode: 'shared', cache_max_records: 50 } }, { BUILDER_CACHE_REPO: 'reg:5000/env/cache' });
    assert.equal(farm.worker.cacheRepo, 'reg:5000/env/cache');
    assert.equal(farm.worker.cacheMode, 'shared');
    assert.equal(farm.worker.cacheMaxRecords, 50);
    assert.equal(farmConfig({}, {}).worker.cacheRepo, undefined, 'no shared cache unless asked');
    assert.throws(() => farmConfig({ worker: { cache_mode: 'remote' } }, {}), /cache_mode must be shared or tiered/);
    assert.throws(() => farmConfig({}, { BUILDER_CACHE_REPO: 'no-repository' }), /is not HOST\/REPOSITORY/);
  });

  it('expands tag templates; a branch with / becomes a valid tag', () => {
    const values = { sha: '0123456789abcdef0123456789abcdef01234567', branch: 'feature/x', repo: 'org/app' };
    assert.equal(expandTemplate('reg/app:{branch}', values), 'reg/app:feature-x');
    assert.equal(expandTemplate('reg/app:{short_sha}', values), 'reg/app:0123456789ab');
    assert.equal(expandTemplate('reg/app:{tag}', values), undefined, 'a {tag} template is not for a branch push');
    assert.equal(expandTemplate('reg/app:{ref}', values), 'reg/app:feature-x');
    const tagPush = { sha: values.sha, tag: 'v1.2.0', repo: 'org/app' };
    assert.equal(expandTemplate('reg/app:{tag}', tagPush), 'reg/app:v1.2.0');
    assert.equal(expandTemplate('reg/app:{ref}', tagPush), 'reg/app:v1.2.0');
    assert.equal(expandTemplate('reg/app:{branch}', tagPush), undefined, 'a {branch} template is not for a tag push');
    assert.throws(() => farmConfig({ webhooks: { repositories: { 'org/app': { tags: ['reg/app:{branch}-{tag}'] } } } }, {}), /never both apply/);
    const rule = farmConfig({ webhooks: { gitea_secret: 's', repositories: { 'org/app': { tags: ['reg/app:{tag}'], git_tags: ['v*'] } } } }, {}).webhooks;
    assert.deepEqual(rule.repositories[0]!.gitTags, ['v*']);
    assert.equal(rule.giteaSecret, 's');
  });
});
