/**
 * builder's own front door to what test/daemon-image-from-container.test.ts drives through the docker CLI:
 * `builder diff | commit | export | import | history | update` and `run --tmpfs`, on a store without a daemon.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { cliMain, expectSuccess, runCli, runCommand, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('builder diff, commit, export, import, history, update, run --tmpfs (CLI)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  const cli = (args: string[], input?: string): Promise<CliResult> => runCli(args, { root, input });
  const ok = async (args: string[]): Promise<string> => expectSuccess(await cli(args), args.join(' ')).stdout;

  before(async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: needs root for runc'); this.skip(); }
    if (!existsSync('/usr/bin/conmon')) { console.log('    skipped: conmon missing (apt-get install conmon)'); this.skip(); }
    scratch = await makeTempDir('container-image-scratch');
    root = await makeFixtureRoot('container-image-root', scratch);
    await ok(['run', '-d', '--name', 'src', 'busybox', 'sleep', '300']);
    await ok(['exec', 'src', 'sh', '-c', 'echo a > /root/f; rm /etc/passwd']);
  });
  after(async () => {
    if (!root) return;
    await cli(['rm', '-f', 'src']);
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  it('diff and commit (with --change) give what docker gives; the image runs', async () => {
    assert.equal(await ok(['diff', 'src']), 'C /etc\nD /etc/passwd\nC /root\nA /root/f\n');
    assert.equal(await ok(['container', 'diff', 'src']), 'C /etc\nD /etc/passwd\nC /root\nA /root/f\n');
    const id = (await ok(['commit', '-c', 'CMD ["cat", "/root/f"]', '-m', 'snap', 'src', 'snap:1'])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await ok(['run', '--rm', 'snap:1']), 'a\n');
    const history = await ok(['history', 'snap:1']);
    assert.match(history.split('\n')[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.match(history.split('\n')[1]!, new RegExp(`^${id.slice(7, 19)}\\s+.*sleep 300\\s+\\S+\\s+snap$`));
    const missing = await cli(['diff', 'nosuch']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such container: nosuch/);
  });

  it('export then import (a file and stdin) round-trips the filesystem', async () => {
    const tarFile = path.join(scratch, 'src.tar');
    await ok(['export', '-o', tarFile, 'src']);
    const names = (await runCommand('tar', ['-tf', tarFile])).stdout.split('\n');
    assert.ok(names.includes('root/f') && !names.includes('etc/passwd'), names.slice(0, 20).join(' '));
    const imported = (await ok(['import', '-c', 'CMD ["/bin/busybox", "cat", "/root/f"]', tarFile, 'imp:1'])).trim();
    assert.match(imported, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await ok(['run', '--rm', 'imp:1']), 'a\n');
    assert.match(await ok(['image', 'history', 'imp:1']), /Imported from -/);
    const piped = await runCommand('sh', ['-c', `"$0" "$1" image import - imp:2 < "$2"`, process.execPath, cliMain, tarFile], { env: { BUILDER_ROOT: root } });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(await ok(['run', '--rm', 'imp:2', '/bin/busybox', 'cat', '/root/f']), 'a\n');
  });

  it('an untagged commit is listed as <none> and removed by id; import URL fetches a loopback http server; ps --filter volume=', async () => {
    const committed = (await ok(['commit', 'src'])).trim();
    assert.match(committed, /^sha256:[0-9a-f]{64}$/);
    // builder images' IMAGE ID is docker's: the config digest commit prints; CREATED reads as docker's "… ago".
    const row = /^<none>\s+<none>\s+([0-9a-f]{12})\s+(.+? ago)\s+\S+$/m.exec(await ok(['images']));
    assert.ok(row, 'the untagged commit is listed');
    const short = row[1]!;
    assert.equal(short, committed.slice(7, 19));
    assert.ok((await ok(['images', '-q'])).split('\n').includes(short));
    assert.equal(await ok(['rmi', short]), `Deleted: ${committed}\n`);
    assert.ok(!(await ok(['images', '-q'])).split('\n').includes(short));
    const tarFile = path.join(scratch, 'src-url.tar');
    await ok(['export', '-o', tarFile, 'src']);
    const body = await readFile(tarFile);
    const server = http.createServer((_request, response) => response.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/src.tar`;
      const imported = await cli(['import', url, 'fromurl:1']);
      expectSuccess(imported, 'import URL');
      assert.match(imported.stdout, /^sha256:[0-9a-f]{64}\n$/);
      assert.match(await ok(['image', 'history', 'fromurl:1']), new RegExp(`Imported from ${url}`));
      assert.equal(await ok(['run', '--rm', 'fromurl:1', '/bin/busybox', 'cat', '/root/f']), 'a\n');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    await ok(['run', '-d', '--name', 'withvol', '-v', '/data', 'busybox', 'sleep', '300']);
    try {
      assert.equal(await ok(['ps', '--filter', 'volume=/data', '--format', '{{.Names}}']), 'withvol\n');
      assert.equal(await ok(['ps', '--filter', 'name=^with', '--format', '{{.Names}}']), 'withvol\n');
    } finally {
      await cli(['rm', '-f', 'withvol']);
    }
  });

  it('update sets the restart policy and memory of the record', async () => {
    assert.equal(await ok(['update', '--restart', 'unless-stopped', '--memory', '32m', 'src']), 'src\n');
    assert.equal(await ok(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Memory}}', 'src']), 'unless-stopped 33554432\n');
  });

  it('run --tmpfs mounts a tmpfs with docker\'s defaults (noexec unless exec) and refuses unknown options', async () => {
    const mounts = await ok(['run', '--rm', '--tmpfs', '/t:size=1m', 'busybox', 'sh', '-c', 'grep " /t " /proc/mounts; touch /t/x && echo ok']);
    assert.match(mounts, /^tmpfs \/t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k 0 0\nok\n$/);
    const exec = await ok(['run', '--rm', '--tmpfs', '/t:exec', 'busybox', 'grep', ' /t ', '/proc/mounts']);
    assert.doesNotMatch(exec, /noexec/);
    const bad = await cli(['run', '--rm', '--tmpfs', '/t:bogus', 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid tmpfs option "bogus"/);
  });
});
