import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { loadSecrets, parseSecretFlag, type SecretSpec } from './secrets.js';

describe('--secret flags', function () {
  const env = { FROM_ENV: 'v', tok: 'by-id' };
  const cases: [string, SecretSpec][] = [
    ['id=a,src=/f', { id: 'a', source: { file: '/f' } }],
    ['id=a,source=/f', { id: 'a', source: { file: '/f' } }],
    ['id=a,env=FROM_ENV', { id: 'a', source: { env: 'FROM_ENV' } }],
    ['type=env,id=a,src=FROM_ENV', { id: 'a', source: { env: 'FROM_ENV' } }],
    ['type=env,id=FROM_ENV', { id: 'FROM_ENV', source: { env: 'FROM_ENV' } }],
    ['type=file,id=a,src=rel/f', { id: 'a', source: { file: 'rel/f' } }],
    ['id=tok', { id: 'tok', source: { env: 'tok' } }],
    ['id=nofile', { id: 'nofile', source: { file: 'nofile' } }],
    ['env=FROM_ENV', { id: 'FROM_ENV', source: { env: 'FROM_ENV' } }],
  ];
  for (const [flag, expected] of cases) {
    it(`parses ${flag}`, function () {
      assert.deepEqual(parseSecretFlag(flag, env), expected);
    });
  }

  for (const flag of ['src=/f', 'id=a,src=/f,env=X', 'id=a,type=ssh', 'id=a,color=red', 'id=a,novalue']) {
    it(`rejects ${flag}`, function () {
      assert.throws(() => parseSecretFlag(flag, env), (err: unknown) => err instanceof BuildError && err.code === 'INVALID_ARGUMENT');
    });
  }

  it('reads files, takes set variables, leaves out unset ones and fails on unreadable files', async function () {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'secrets-test-'));
    try {
      await writeFile(path.join(dir, 's'), 'file-value\n');
      const secrets = await loadSecrets([`id=f,src=${path.join(dir, 's')}`, 'id=e,env=FROM_ENV', 'id=u,env=UNSET_VAR'], env);
      assert.deepEqual([...secrets.keys()].sort(), ['e', 'f']);
      assert.equal(secrets.get('f')!.toString(), 'file-value\n');
      assert.equal(secrets.get('e')!.toString(), 'v');
      await assert.rejects(loadSecrets([`id=x,src=${path.join(dir, 'missing')}`], env), /--secret id=x: cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
