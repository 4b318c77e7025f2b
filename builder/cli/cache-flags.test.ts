import { strict as assert } from 'node:assert';
import { parseCacheFrom, parseCacheTo } from './cache-flags.js';

describe('--cache-to / --cache-from flags', () => {
  it('parses the registry and local forms, mode defaulting to min', () => {
    assert.deepEqual(parseCacheTo('type=registry,ref=reg:5000/c:main,mode=max'), { type: 'registry', ref: 'reg:5000/c:main', mode: 'max' });
    assert.deepEqual(parseCacheTo('type=local,dest=/tmp/c'), { type: 'local', dest: '/tmp/c', mode: 'min' });
    assert.deepEqual(parseCacheFrom('type=local,src=/tmp/c'), { type: 'local', src: '/tmp/c' });
    assert.deepEqual(parseCacheFrom('reg:5000/c:main'), { type: 'registry', ref: 'reg:5000/c:main' }, 'a bare value is a registry ref, as buildx');
  });

  it('refuses what it does not support, naming it', () => {
    assert.throws(() => parseCacheTo('type=gha'), /unsupported type "gha"/);
    assert.throws(() => parseCacheTo('type=registry,ref=r/c:t,mode=all'), /mode must be min or max/);
    assert.throws(() => parseCacheTo('type=local'), /type=local needs dest=/);
    assert.throws(() => parseCacheFrom('type=registry,ref=r/c:t,compression=zstd'), /unsupported attribute compression/);
    assert.throws(() => parseCacheFrom('type=registry,oops'), /"oops" is not key=value/);
  });
});
