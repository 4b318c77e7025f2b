import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { familiarName, normalizeTag, parseReference } from './reference.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('image/reference', () => {
  const valid: [string, { registry: string; repository: string; tag?: string; digest?: string }, string][] = [
    ['busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }, 'busybox:latest'],
    ['busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' }, 'busybox:1.36'],
    ['docker.io/library/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }, 'busybox:latest'],
    ['index.docker.io/library/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' }, 'busybox:latest'],
    ['user/app:v1', { registry: 'docker.io', repository: 'user/app', tag: 'v1' }, 'user/app:v1'],
    ['localhost:5000/x/y:1', { registry: 'localhost:5000', repository: 'x/y', tag: '1' }, 'localhost:5000/x/y:1'],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }, 'localhost/app:latest'],
    ['myreg:5000/app:v1', { registry: 'myreg:5000', repository: 'app', tag: 'v1' }, 'myreg:5000/app:v1'],
    ['ghcr.io/o/r_x.y-z', { registry: 'ghcr.io', repository: 'o/r_x.y-z', tag: 'latest' }, 'ghcr.io/o/r_x.y-z:latest'],
    [`app@${DIGEST}`, { registry: 'docker.io', repository: 'library/app', digest: DIGEST }, `app@${DIGEST}`],
    [`app:v2@${DIGEST}`, { registry: 'docker.io', repository: 'library/app', tag: 'v2', digest: DIGEST }, `app:v2@${DIGEST}`],
  ];
  for (const [input, expected, familiar] of valid) {
    it(`parses ${input}`, () => {
      const ref = parseReference(input);
      assert.deepEqual(ref, expected);
      assert.equal(familiarName(ref), familiar);
    });
  }

  const invalid = ['', 'App', 'app:', 'app:-x', ':tag', 'a//b', 'app@sha256:1234', `app:${'x'.repeat(129)}`, 'UPPER/case', '-app', 'app_', 'Host.com/ok:'];
  for (const input of invalid) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseReference(input), (err: unknown) => {
        assert.ok(err instanceof BuildError);
        assert.equal(err.code, 'INVALID_REFERENCE');
        assert.ok(err.message.startsWith(`invalid reference format: "${input}"`), err.message);
        return true;
      });
    });
  }

  it('normalizes tags to the familiar form', () => {
    assert.equal(normalizeTag('app'), 'app:latest');
    assert.equal(normalizeTag('docker.io/library/busybox'), 'busybox:latest');
    assert.equal(normalizeTag('localhost:5000/x/y:1'), 'localhost:5000/x/y:1');
  });
});
