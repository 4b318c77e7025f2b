/**
 * The CLI processes builder starts for itself (conmon's exit command) go without NODE_EXTRA_CA_CERTS, which costs
 * Node ~30 ms of start-up; everything else in the environment is inherited (builder/containers/internal-env.ts).
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { internalNodeEnv } from '../builder/containers/internal-env.js';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('internal CLI processes', function () {
  this.timeout(60_000);

  it('drop only NODE_EXTRA_CA_CERTS and add what they are given', () => {
    const env = { PATH: '/bin', NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', BUILDER_ROOT: '/r' };
    assert.deepEqual(internalNodeEnv({ _OCI_SYNCPIPE: '3' }, env), { PATH: '/bin', BUILDER_ROOT: '/r', _OCI_SYNCPIPE: '3' });
    assert.deepEqual(internalNodeEnv({}, { PATH: '/bin' }), { PATH: '/bin' });
  });

  describe('a detached container\'s monitor', () => {
    let scratch = '';
    let root = '';
    before(async function () {
      if (process.getuid?.() !== 0) { console.log('    skipped: needs root for runc'); this.skip(); }
      if (!existsSync('/usr/bin/conmon')) { console.log('    skipped: conmon missing (apt-get install conmon)'); this.skip(); }
      scratch = await makeTempDir('internal-env-scratch-');
      root = await makeFixtureRoot('internal-env-root-', scratch);
    });
    after(async () => {
      if (!root) return;
      for (const line of (await runCli(['ps', '-aq'], { root })).stdout.split('\n').filter(Boolean)) await runCli(['rm', '-f', line], { root });
      await removeTempDir(root);
      await removeTempDir(scratch);
    });

    it('runs (and hands its exit command) the environment without NODE_EXTRA_CA_CERTS', async () => {
      const env = { NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', BUILDER_TEST_MARK: 'kept' };
      const id = expectSuccess(await runCli(['run', '-d', 'busybox', 'sleep', '30'], { root, env }), 'run -d').stdout.trim();
      const pid = Number((await readFile(path.join(root, 'containers', id, 'conmon.pid'), 'utf8')).trim());
      const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
      assert.ok(environ.includes('BUILDER_TEST_MARK=kept'), 'the rest of the environment is inherited');
      assert.equal(environ.filter((e) => e.startsWith('NODE_EXTRA_CA_CERTS=')).length, 0);
      expectSuccess(await runCli(['rm', '-f', id], { root }), 'rm -f');
    });
  });
});
