import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { resolveContext } from './context-dir.js';
import { tempDir } from './test-fixtures.js';

describe('context/context-dir resolveContext', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir('ctxdir');
    mkdirSync(path.join(tmp.dir, 'ctx', 'sub'), { recursive: true });
    writeFileSync(path.join(tmp.dir, 'ctx', 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(path.join(tmp.dir, 'ctx', 'sub', 'app.Dockerfile'), 'FROM scratch\n');
    writeFileSync(path.join(tmp.dir, 'outside.Dockerfile'), 'FROM scratch\n');
  });
  afterEach(() => tmp.cleanup());

  it('defaults to <context>/Dockerfile', async () => {
    const resolved = await resolveContext(path.join(tmp.dir, 'ctx'));
    assert.deepEqual(resolved, {
      contextDir: path.join(tmp.dir, 'ctx'),
      dockerfilePath: path.join(tmp.dir, 'ctx', 'Dockerfile'),
      dockerfileName: 'Dockerfile',
    });
  });

  it('falls back to a lower-case dockerfile when Dockerfile is missing (BuildKit testDockerfileLowercase)', async () => {
    mkdirSync(path.join(tmp.dir, 'lower'));
    writeFileSync(path.join(tmp.dir, 'lower', 'dockerfile'), 'FROM scratch\n');
    const resolved = await resolveContext(path.join(tmp.dir, 'lower'));
    assert.equal(resolved.dockerfilePath, path.join(tmp.dir, 'lower', 'dockerfile'));
    assert.equal(resolved.dockerfileName, 'dockerfile');
    // With both, Dockerfile wins.
    writeFileSync(path.join(tmp.dir, 'ctx', 'dockerfile'), 'FROM busybox\n');
    assert.equal((await resolveContext(path.join(tmp.dir, 'ctx'))).dockerfileName, 'Dockerfile');
  });

  it('-f inside and outside the context', async () => {
    const inside = await resolveContext(path.join(tmp.dir, 'ctx'), path.join(tmp.dir, 'ctx', 'sub', 'app.Dockerfile'));
    assert.equal(inside.dockerfileName, 'sub/app.Dockerfile');
    const outside = await resolveContext(path.join(tmp.dir, 'ctx'), path.join(tmp.dir, 'outside.Dockerfile'));
    assert.equal(outside.dockerfilePath, path.join(tmp.dir, 'outside.Dockerfile'));
    const relativeToContext = await resolveContext(path.join(tmp.dir, 'ctx'), 'sub/app.Dockerfile');
    assert.equal(relativeToContext.dockerfileName, 'sub/app.Dockerfile');
  });

  it('reports a missing Dockerfile or context as INVALID_ARGUMENT', async () => {
    mkdirSync(path.join(tmp.dir, 'empty'));
    const missing = path.join(tmp.dir, 'empty', 'Dockerfile');
    await assert.rejects(resolveContext(path.join(tmp.dir, 'empty')), (err: unknown) =>
      err instanceof BuildError && err.code === 'INVALID_ARGUMENT' && err.message === `failed to read Dockerfile: open ${missing}: no such file or directory`);
    await assert.rejects(resolveContext(path.join(tmp.dir, 'nope')), (err: unknown) => err instanceof BuildError && err.code === 'INVALID_ARGUMENT');
    await assert.rejects(resolveContext(path.join(tmp.dir, 'outside.Dockerfile')), /context must be a directory/);
  });
});
