/**
 * `cp` sees a container's volumes and bind mounts as docker does: files written by the container into a named
 * volume and a bind mount are copied out (running and stopped), files copied in land in the volume (the container
 * reads them), a read-only mount refuses them, and a link inside a volume cannot lead to the host. IPv6 publishing
 * is refused with a clear error.
 */
import assert from 'node:assert/strict';
import { existsSync, readlinkSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('cp with volumes and bind mounts', function () {
  this.timeout(60_000);
  let root = '';
  let scratch = '';
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { root });
  const ok = async (args: string[]): Promise<string> => expectSuccess(await cli(args), args.join(' ')).stdout;

  before(async function () {
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/conmon')) {
      console.log('    skipped: needs root and conmon (scripts/setup.sh)');
      return this.skip();
    }
    scratch = await makeTempDir('cp-mounts-scratch');
    root = await makeFixtureRoot('cp-mounts-root', scratch);
  });
  after(async () => {
    if (!root) return;
    await cli(['rm', '-f', '-v', 'holder']);
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  it('copies out of and into a named volume and a bind mount; read-only mounts refuse', async () => {
    const bind = path.join(scratch, 'bind');
    await mkdir(bind);
    await writeFile(path.join(bind, 'host.txt'), 'from the host\n');
    await ok(['run', '-d', '--name', 'holder', '-v', 'cpdata:/data', '-v', `${bind}:/bind`, '-v', `${bind}:/ro:ro`,
      'busybox', 'sh', '-c', 'echo in-volume > /data/v.txt; ln -s /etc/passwd /data/escape; touch /ready; exec sleep 300']);
    const deadline = Date.now() + 10_000;
    while ((await cli(['exec', 'holder', 'test', '-e', '/ready'])).code !== 0) {
      assert.ok(Date.now() < deadline, 'the container never got ready');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await ok(['cp', 'holder:/data/v.txt', path.join(scratch, 'v.txt')]);
    assert.equal(await readFile(path.join(scratch, 'v.txt'), 'utf8'), 'in-volume\n');
    await ok(['cp', 'holder:/bind/host.txt', path.join(scratch, 'host-copy.txt')]);
    assert.equal(await readFile(path.join(scratch, 'host-copy.txt'), 'utf8'), 'from the host\n');

    await writeFile(path.join(scratch, 'in.txt'), 'copied in\n');
    await ok(['cp', path.join(scratch, 'in.txt'), 'holder:/data/']);
    assert.equal(await ok(['exec', 'holder', 'cat', '/data/in.txt']), 'copied in\n');
    const readonly = await cli(['cp', path.join(scratch, 'in.txt'), 'holder:/ro/']);
    assert.notEqual(readonly.code, 0);
    assert.match(readonly.stderr, /mounted volume is marked read-only: \/ro/);
    assert.equal(existsSync(path.join(bind, 'in.txt')), false);

    // A link in the volume is copied as a link, never followed to the host's /etc/passwd.
    await ok(['cp', 'holder:/data/escape', path.join(scratch, 'escape')]);
    assert.equal(readlinkSync(path.join(scratch, 'escape')), '/etc/passwd');

    await ok(['stop', '-t', '0', 'holder']);
    await ok(['cp', 'holder:/data/v.txt', path.join(scratch, 'v-stopped.txt')]);
    assert.equal(await readFile(path.join(scratch, 'v-stopped.txt'), 'utf8'), 'in-volume\n');
  });

  it('-p [::1]:PORT:80 is refused with a clear error and leaves no container (builder networks are IPv4)', async () => {
    const before = (await ok(['ps', '-aq'])).split('\n').filter(Boolean).length;
    const v6 = await cli(['run', '-d', '--name', 'v6', '-p', '[::1]:18080:80', 'busybox', 'sleep', '10']);
    assert.notEqual(v6.code, 0);
    assert.match(v6.stderr, /cannot publish on IPv6 address \[::1\]: builder networks are IPv4 only; publish on 127\.0\.0\.1 or 0\.0\.0\.0/);
    assert.equal((await ok(['ps', '-aq'])).split('\n').filter(Boolean).length, before);
    assert.equal((await cli(['inspect', 'v6'])).code, 1);
  });
});
