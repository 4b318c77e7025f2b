import assert from 'node:assert/strict';
import { BuildError } from '../errors.js';
import { parseMountFlag, parseVolumeFlag } from './parse-mount.js';

const rejects = (fn: () => unknown, message: RegExp, code = 'INVALID_ARGUMENT'): void => {
  assert.throws(fn, (err: unknown) => err instanceof BuildError && err.code === code && message.test(err.message));
};

describe('parseVolumeFlag (docker -v)', () => {
  const valid: [string, object][] = [
    ['/data', { type: 'volume', target: '/data', readonly: false }],
    ['cache:/data', { type: 'volume', source: 'cache', target: '/data', readonly: false }],
    ['cache:/data:ro', { type: 'volume', source: 'cache', target: '/data', readonly: true }],
    ['cache:/data:rw,nocopy', { type: 'volume', source: 'cache', target: '/data', readonly: false, nocopy: true }],
    ['/srv/www:/var/www', { type: 'bind', source: '/srv/www', target: '/var/www', readonly: false, createHostDir: true }],
    ['/srv/www:/var/www:ro,rshared', { type: 'bind', source: '/srv/www', target: '/var/www', readonly: true, options: ['rshared'], createHostDir: true }],
    ['./site:/www', { type: 'bind', source: '/home/u/site', target: '/www', readonly: false, createHostDir: true }],
  ];
  for (const [spec, expected] of valid) {
    it(`parses ${spec}`, () => assert.deepEqual(parseVolumeFlag(spec, '/home/u'), expected));
  }
  const invalid: [string, RegExp][] = [
    ['data', /^invalid mount config for type "volume": invalid mount path: 'data' mount path must be absolute$/],
    ['/data:ro', /^invalid volume specification: '\/data:ro'$/],
    ['a:/b:c:d', /^invalid volume specification: 'a:\/b:c:d'$/],
    ['cache::/x', /^invalid volume specification: 'cache::\/x'$/],
    ['cache:/data:rx', /^invalid mode: rx$/],
    ['cache:/data:ro,rw', /^invalid mode: ro,rw$/],
    ['/host:/data:nocopy', /^invalid mode: nocopy$/],
    ['b@d:/data', /includes invalid characters for a local volume name/],
    ['x:/data', /includes invalid characters for a local volume name/],
    ['cache:/', /destination can't be '\/'/],
  ];
  for (const [spec, message] of invalid) {
    it(`refuses ${spec}`, () => rejects(() => parseVolumeFlag(spec), message));
  }
});

describe('parseMountFlag (docker --mount)', () => {
  const valid: [string, object][] = [
    ['type=volume,src=cache,dst=/data', { type: 'volume', source: 'cache', target: '/data', readonly: false }],
    ['target=/data', { type: 'volume', target: '/data', readonly: false }],
    ['type=volume,source=cache,target=/data,readonly,volume-nocopy', { type: 'volume', source: 'cache', target: '/data', readonly: true, nocopy: true }],
    ['type=bind,src=/srv,dst=/srv,ro=true,bind-propagation=rslave', { type: 'bind', source: '/srv', target: '/srv', readonly: true, options: ['rslave'] }],
    ['type=tmpfs,dst=/run,tmpfs-size=64m,tmpfs-mode=1777', { type: 'tmpfs', target: '/run', readonly: false, options: ['size=67108864', 'mode=1777'] }],
    ['type=volume,dst=/data,readonly=false', { type: 'volume', target: '/data', readonly: false }],
  ];
  for (const [spec, expected] of valid) {
    it(`parses ${spec}`, () => assert.deepEqual(parseMountFlag(spec), expected));
  }
  const invalid: [string, RegExp][] = [
    ['type=volume,src=cache', /^target is required$/],
    ['type=nfs,dst=/x', /^invalid mount config for type "nfs": mount type unknown$/],
    ['type=bind,dst=/x', /^invalid mount config for type "bind": field Source must not be empty$/],
    ['type=bind,src=rel,dst=/x', /invalid mount path: 'rel' mount path must be absolute/],
    ['type=tmpfs,src=x,dst=/x', /^invalid mount config for type "tmpfs": source must not be specified$/],
    ['type=bind,src=/a,dst=/x,volume-nocopy', /^cannot mix 'volume-\*' options with mount type 'bind'$/],
    ['type=volume,dst=/x,tmpfs-size=1m', /^cannot mix 'tmpfs-\*' options with mount type 'volume'$/],
    ['type=volume,dst=/x,colour=red', /^unexpected key 'colour' in 'colour=red'$/],
    ['type=volume,dst', /^invalid field 'dst' must be a key=value pair$/],
    ['type=volume,dst=/x,readonly=maybe', /^invalid value for readonly: maybe$/],
    ['type=tmpfs,dst=/x,tmpfs-size=lots', /^invalid value for tmpfs-size: lots$/],
    ['type=tmpfs,dst=/x,tmpfs-mode=999', /^invalid value for tmpfs-mode: 999$/],
    ['type=volume,dst=relative', /mount path must be absolute/],
  ];
  for (const [spec, message] of invalid) {
    it(`refuses ${spec}`, () => rejects(() => parseMountFlag(spec), message));
  }
});
