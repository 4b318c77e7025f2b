import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseBuildContexts, parseLabels } from './build-contexts.js';
import { outputCompression, outputFormat, parseOutput } from './build-output.js';

describe('build output and context flags', function () {
  it('parses --output like docker buildx', function () {
    assert.deepEqual(parseOutput('type=oci,dest=out.tar'), { type: 'oci', dest: 'out.tar' });
    assert.deepEqual(parseOutput('type=local,dest=./dir'), { type: 'local', dest: './dir' });
    assert.deepEqual(parseOutput('./dir'), { type: 'local', dest: './dir' });
    assert.deepEqual(parseOutput('-'), { type: 'tar', dest: '-' });
    assert.deepEqual(parseOutput('dest=x'), { type: 'local', dest: 'x' });
    assert.throws(() => parseOutput('type=registry,dest=x'), /unsupported attribute dest/);
    assert.deepEqual(parseOutput('type=registry,name=h/r:t'), { type: 'image', names: ['h/r:t'], push: true });
    assert.deepEqual(parseOutput('type=image,push=true,oci-mediatypes=false'), { type: 'image', names: [], push: true, ociMediaTypes: false });
    assert.deepEqual(parseOutput('type=oci,dest=o.tar,oci-mediatypes=true'), { type: 'oci', dest: 'o.tar', ociMediaTypes: true });
    assert.throws(() => parseOutput('type=image,oci-mediatypes=maybe'), /want true or false/);
    assert.throws(() => parseOutput('type=local,dest=d,oci-mediatypes=false'), /unsupported attribute oci-mediatypes/);
    assert.equal(outputFormat([parseOutput('type=image,oci-mediatypes=false'), parseOutput('d')]), 'docker');
    assert.equal(outputFormat([]), 'oci');
    assert.throws(() => outputFormat([parseOutput('type=image,oci-mediatypes=false'), parseOutput('type=image,oci-mediatypes=true')]), /one manifest format/);
    assert.throws(() => parseOutput('type=tar'), /needs dest/);
    assert.throws(() => parseOutput('type=tar,dest=x,compression=zstd'), /unsupported attribute compression/);
  });

  it('parses BuildKit\'s compression, compression-level and force-compression', function () {
    assert.deepEqual(parseOutput('type=image,name=a,compression=zstd'), { type: 'image', names: ['a'], push: false, compression: { type: 'zstd' } });
    assert.deepEqual(parseOutput('type=registry,name=a,compression=zstd,compression-level=19,force-compression=true'),
      { type: 'image', names: ['a'], push: true, compression: { type: 'zstd', level: 19, force: true } });
    assert.deepEqual(parseOutput('type=oci,dest=o.tar,compression=gzip,compression-level=0'), { type: 'oci', dest: 'o.tar', compression: { type: 'gzip', level: 0 } });
    assert.deepEqual(parseOutput('type=docker,dest=o.tar,compression=uncompressed,force-compression=false'), { type: 'docker', dest: 'o.tar', compression: { type: 'uncompressed' } });
    const cases: [string, RegExp][] = [
      ['type=image,compression=lz4', /want one of uncompressed, gzip, zstd/],
      ['type=image,compression=gzip,compression-level=10', /gzip compression-level must be an integer 0-9/],
      ['type=image,compression=zstd,compression-level=0', /zstd compression-level must be an integer 1-22/],
      ['type=image,compression=zstd,compression-level=fast', /want a number/],
      ['type=image,compression=uncompressed,compression-level=1', /takes no compression-level/],
      ['type=image,force-compression=true', /need compression=/],
      ['type=image,compression=zstd,force-compression=maybe', /want true or false/],
    ];
    for (const [spec, message] of cases) assert.throws(() => parseOutput(spec), message, spec);
    assert.equal(outputCompression([parseOutput('d')]), undefined);
    assert.deepEqual(outputCompression([parseOutput('type=image,compression=zstd'), parseOutput('type=oci,dest=x,compression=zstd')]), { type: 'zstd' });
    assert.throws(() => outputCompression([parseOutput('type=image,compression=zstd'), parseOutput('type=oci,dest=x,compression=gzip')]), /different compression settings/);
  });

  it('parses --build-context directories and image aliases', async function () {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'build-contexts-'));
    try {
      await assert.rejects(parseBuildContexts(['files=missing-sub'], dir), /is not a directory/);
      const parsed = await parseBuildContexts([`Files=${path.basename(dir)}`, 'base=docker-image://busybox:1'], path.dirname(dir));
      assert.deepEqual(parsed, { files: { dir }, base: { image: 'busybox:1' } });
      await assert.rejects(parseBuildContexts(['nameonly']), /want NAME=PATH/);
      await assert.rejects(parseBuildContexts(['x=https://example.com/r.git']), /only local directories/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('parses --label', function () {
    assert.deepEqual(parseLabels(['a=1', 'b', 'c=x=y']), { a: '1', b: '', c: 'x=y' });
    assert.throws(() => parseLabels(['=v']), /want KEY=VALUE/);
  });
});
