import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseBuildContexts, parseLabels } from './build-contexts.js';
import { outputFormat, parseOutput } from './build-output.js';

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
