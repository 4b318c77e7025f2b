import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable, runCommand } from './bench-lib/proc.js';
import { unmountTree } from './bench-lib/scratch-fs.js';

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('scripts/start-dockerd.sh + stop-dockerd.sh', function () {
  this.timeout(90_000);
  let work = '';
  let env: NodeJS.ProcessEnv = {};

  before(async function () {
    if (process.getuid?.() !== 0 || !(await findExecutable('dockerd')) || !(await findExecutable('/usr/bin/docker'))) {
      console.log('      skipped: starting a second dockerd needs root and Debian docker.io (dockerd, /usr/bin/docker)');
      this.skip();
    }
    // Short path: the daemon's sockets live under it and unix socket paths are limited to 108 bytes.
    work = await mkdtemp('/tmp/dkd-');
    env = {
      ...process.env,
      DOCKERD_SOCK: join(work, 'd.sock'),
      DOCKERD_DATA_ROOT: join(work, 'data'),
      DOCKERD_EXEC_ROOT: join(work, 'exec'),
      DOCKERD_STATE_DIR: join(work, 'state'),
      DOCKER_HOST: `unix://${join(work, 'd.sock')}`,
    };
  });
  after(async () => {
    if (!work) return;
    await runCommand('bash', [join(REPO_DIR, 'scripts/stop-dockerd.sh')], { env, allowFailure: true });
    await unmountTree(work);
    await rm(work, { recursive: true, force: true });
  });

  it('starts a separate daemon, loads the busybox fixture into it, and stops only its own daemon', async () => {
    const start = await runCommand('bash', [join(REPO_DIR, 'scripts/start-dockerd.sh')], { env });
    assert.match(start.stdout, /started dockerd \(pid \d+\)/);
    const again = await runCommand('bash', [join(REPO_DIR, 'scripts/start-dockerd.sh')], { env });
    assert.match(again.stdout, /already running/);

    await runCommand('bash', [join(REPO_DIR, 'scripts/make-busybox.sh'), '--load-into-docker'], { env });
    const ran = await runCommand('/usr/bin/docker', ['run', '--rm', '--network=none', 'busybox:latest', 'id', 'app'], { env });
    assert.equal(ran.stdout.trim(), 'uid=1000(app) gid=1000(app) groups=1000(app)');

    const stop = await runCommand('bash', [join(REPO_DIR, 'scripts/stop-dockerd.sh')], { env });
    assert.match(stop.stdout, /stopped dockerd/);
    assert.equal(existsSync(join(work, 'state/started-by-builder')), false);
    const gone = await runCommand('/usr/bin/docker', ['info'], { env, allowFailure: true });
    assert.notEqual(gone.exitCode, 0);

    // With no marker it must leave every daemon alone (the machine's own dockerd included).
    const noop = await runCommand('bash', [join(REPO_DIR, 'scripts/stop-dockerd.sh')], { env });
    assert.match(noop.stdout, /nothing to stop/);
  });
});
