/**
 * The docker CLI 28 against `builder daemon`, for behaviours moby's integration-cli tests and users' scripts rely
 * on. Each expectation is what Debian's dockerd 20.10 printed for the same command (run side by side while this was
 * written, docs/ARCHITECTURE.md "docker CLI parity, another pass"): dangling images from an untagged commit/import,
 * `docker import URL`, `ps --filter` keys and their errors, --group-add, --stop-signal, kill -s, and the events
 * exec and cp emit.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { runCommand } from './helpers/cli.js';
import { DOCKER_CLI, containerDaemonSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon-server.js';

describe('builder daemon: docker CLI parity (images, import URL, ps filters, run flags, events)', function () {
  this.timeout(180_000);
  let daemon: TestDaemon;
  let server: http.Server | undefined;
  let baseUrl = '';
  let rootfsTar: Buffer;

  const ok = async (args: string[], input?: string): Promise<string> => {
    const result = await daemon.docker(args, { input });
    assert.equal(result.code, 0, `docker ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };

  before(async function () {
    const reason = containerDaemonSkipReason();
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    daemon = await startTestDaemon('docker-cli-parity');
    const src = await daemon.docker(['run', '--network', 'none', '--name', 'src', 'busybox', 'sh', '-c', 'echo hi > /hi; exit 3']);
    assert.equal(src.code, 3, src.stderr);
    const exported = path.join(daemon.dir, 'rootfs.tar');
    await ok(['export', '-o', exported, 'src']);
    rootfsTar = await readFile(exported);
    // A loopback HTTP server for `docker import URL` (never anything off 127.0.0.1).
    server = http.createServer((request, response) => {
      if (request.url === '/rootfs.tar') {
        response.writeHead(200, { 'Content-Type': 'application/x-tar', 'Content-Length': rootfsTar.length });
        return response.end(rootfsTar);
      }
      if (request.url === '/moved.tar') {
        response.writeHead(302, { Location: '/rootfs.tar' });
        return response.end();
      }
      response.writeHead(404, { 'Content-Type': 'text/plain' });
      response.end('nothing here');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    if (server) await new Promise((resolve) => server!.close(resolve));
    if (!daemon) return;
    await daemon.docker(['rm', '-f', 'src', 'vol', 'sig', 'ev']);
    assert.equal(await daemon.stop(), 0);
  });

  it('an untagged commit is a dangling <none>:<none> image: images, -q, dangling=, tag, rmi, prune agree with dockerd', async () => {
    const id = (await ok(['commit', 'src'])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const short = id.slice(7, 19);
    assert.match(await ok(['images']), new RegExp(`^<none>\\s+<none>\\s+${short}\\s`, 'm'));
    assert.match(await ok(['images', '-a', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']), new RegExp(`^<none>:<none> ${short}$`, 'm'));
    assert.ok((await ok(['images', '-q'])).split('\n').includes(short));
    assert.equal(await ok(['images', '--filter', 'dangling=true', '--format', '{{.ID}}']), `${short}\n`);
    assert.ok(!(await ok(['images', '--filter', 'dangling=false', '-q'])).includes(short));
    // Newest first, as dockerd sorts: the commit comes before busybox (created 1970).
    assert.equal((await ok(['images', '-q'])).split('\n')[0], short);
    assert.equal((await ok(['image', 'inspect', '-f', '{{json .RepoTags}}', short])).trim(), '[]');
    // A tag ends the dangling entry; removing that tag deletes the image (no container uses it).
    await ok(['tag', short, 'named:1']);
    assert.equal(await ok(['images', '--filter', 'dangling=true', '-q']), '');
    assert.match(await ok(['rmi', 'named:1']), new RegExp(`^Untagged: named:1\nDeleted: ${id}\n$`));
    assert.equal((await daemon.docker(['image', 'inspect', short])).code, 1);
    // rmi by id of a dangling image; then `image prune` removes the next one.
    const second = (await ok(['commit', '-m', 'two', 'src'])).trim();
    assert.match(await ok(['rmi', second.slice(7, 19)]), new RegExp(`^Deleted: ${second}\n$`));
    const third = (await ok(['commit', '-m', 'three', 'src'])).trim();
    assert.match(await ok(['image', 'prune', '-f']), new RegExp(`deleted: ${third}`));
    assert.equal(await ok(['images', '--filter', 'dangling=true', '-q']), '');
  });

  it('an untagged `docker import -` is dangling too, and runs by its id', async () => {
    // The tar on the CLI's stdin, as a shell redirect gives it (runCommand's input is text).
    const imported = await runCommand('sh', ['-c', `"${DOCKER_CLI}" import - < "$0"`, path.join(daemon.dir, 'rootfs.tar')], { env: daemon.env });
    assert.equal(imported.code, 0, imported.stderr);
    const id = imported.stdout.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.ok((await ok(['images', '--filter', 'dangling=true', '-q'])).includes(id.slice(7, 19)));
    assert.equal(await ok(['run', '--rm', '--network', 'none', id.slice(7, 19), 'cat', '/hi']), 'hi\n');
    await ok(['rmi', id.slice(7, 19)]);
  });

  it('docker import URL fetches over http (redirects followed), with moby\'s progress, comment and errors', async () => {
    const result = await daemon.docker(['import', `${baseUrl}/moved.tar`, 'fromurl:1']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^Downloading from ${baseUrl}/moved.tar\n`));
    assert.match(result.stdout, /sha256:[0-9a-f]{64}\n$/);
    assert.equal((await ok(['history', '--format', '{{.Comment}}', 'fromurl:1'])).trim(), `Imported from ${baseUrl}/moved.tar`);
    assert.equal(await ok(['run', '--rm', '--network', 'none', 'fromurl:1', 'cat', '/hi']), 'hi\n');
    const missing = await daemon.docker(['import', `${baseUrl}/nothere.tar`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`Error response from daemon: failed to GET ${baseUrl}/nothere.tar with status 404 Not Found: nothing here`));
    // A port nothing listens on: the closed server's own port, a moment after it stops listening is racy, so port 1.
    const refused = await daemon.docker(['import', 'http://127.0.0.1:1/x.tar']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Get "http:\/\/127\.0\.0\.1:1\/x\.tar": dial tcp 127\.0\.0\.1:1: connect: connection refused/);
    // The raw API: a fromSrc without a scheme is http://, as moby's ImportImage.
    const raw = await daemon.request('POST', `/images/create?fromSrc=${encodeURIComponent(`${baseUrl.slice('http://'.length)}/rootfs.tar`)}&repo=noscheme`);
    assert.equal(raw.status, 200, raw.body);
    assert.match(raw.body, /"status":"Importing","progressDetail":\{"current":\d+,"total":\d+\}/);
    assert.equal((await ok(['history', '--format', '{{.Comment}}', 'noscheme'])).trim(), `Imported from ${baseUrl}/rootfs.tar`);
  });

  it('ps --filter: volume, network, expose/publish, name (a regexp), exited, isolation, is-task, with dockerd\'s errors', async () => {
    await ok(['run', '-d', '--network', 'none', '--name', 'vol', '--expose', '80', '-v', '/data', 'busybox', 'sleep', '300']);
    const names = async (...filters: string[]): Promise<string> =>
      (await ok(['ps', '-a', ...filters.flatMap((f) => ['--filter', f]), '--format', '{{.Names}}'])).trim().split('\n').sort().join(' ');
    assert.equal(await names('volume=/data'), 'vol');
    assert.equal(await names('network=none'), 'src vol');
    assert.equal(await names('name=^v'), 'vol');
    assert.equal(await names('name=^/src$'), 'src');
    assert.equal(await names('exited=3'), 'src');
    assert.equal(await names('exited=03'), 'src');
    assert.equal(await names('isolation=default', 'is-task=false', 'status=running'), 'vol');
    assert.equal(await names('is-task=true'), '');
    // dockerd has no port map for a container without a network: nothing is exposed, nothing published.
    assert.equal(await names('expose=80'), '');
    assert.equal(await names('publish=80'), '');
    assert.equal((await ok(['ps', '--filter', 'name=vol', '--format', '{{.Ports}}'])).trim(), '');
    assert.equal((await ok(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'vol'])).trim(), '{}');
    assert.equal((await ok(['ps', '-q', '--filter', 'exited=3'])).trim(), '', 'exited= alone does not imply -a');
    for (const [filter, message] of [
      ['status=foo', "Invalid filter 'status=foo'"],
      ['exited=x', 'strconv.Atoi: parsing "x": invalid syntax'],
      ['health=foo', 'Unrecognised filter value for health: foo'],
      ['publish=abc', 'error while looking up for publish abc: strconv.ParseUint: parsing "abc": invalid syntax'],
      ['expose=80-x', 'error while looking up for expose 80-x: strconv.ParseUint: parsing "x": invalid syntax'],
      ['colour=red', "invalid filter 'colour'"],
    ]) {
      const bad = await daemon.docker(['ps', '--filter', filter!]);
      assert.equal(bad.code, 1, filter);
      assert.equal(bad.stderr.trim(), `Error response from daemon: ${message}`, filter);
    }
  });

  it('run: --group-add adds numeric gids with no /etc/group entry; --stop-signal and kill -s refuse unknown signals', async () => {
    assert.equal(await ok(['run', '--rm', '--network', 'none', '--group-add', '10', '--group-add', '20', 'busybox', 'id']),
      'uid=0(root) gid=0(root) groups=0(root),10(wheel),20\n');
    // Environment order as dockerd's: Config.Env is the user's -e first; the process gets PATH, HOSTNAME, (TERM), the rest.
    const env = (await ok(['run', '--rm', '--network', 'none', '-h', 'hh', '-e', 'X=1', '-e', 'PATH=/bin', 'busybox', 'env'])).split('\n');
    assert.deepEqual(env, ['PATH=/bin', 'HOSTNAME=hh', 'X=1', 'HOME=/root', '']);
    const created = (await ok(['create', '--network', 'none', '-e', 'X=1', 'busybox', 'true'])).trim();
    assert.equal((await ok(['inspect', '-f', '{{index .Config.Env 0}}', created])).trim(), 'X=1');
    await ok(['rm', created]);
    await ok(['run', '-d', '--network', 'none', '--name', 'grp', '--group-add', '20', 'busybox', 'sleep', '300']);
    try {
      assert.equal(await ok(['exec', 'grp', 'id', '-G']), '0 10 20\n', 'exec inherits the groups');
      assert.equal(await ok(['exec', '-u', '1000', 'grp', 'id', '-G']), '1000 20\n', 'exec -u adds --group-add to the user\'s');
    } finally {
      await daemon.docker(['rm', '-f', 'grp']);
    }
    const unknownGroup = await daemon.docker(['run', '--rm', '--network', 'none', '--group-add', 'nosuch', 'busybox', 'id']);
    assert.equal(unknownGroup.code, 125);
    assert.match(unknownGroup.stderr, /Unable to find group nosuch: no matching entries in group file/);
    const badStop = await daemon.docker(['run', '--rm', '--network', 'none', '--stop-signal', 'NOSUCH', 'busybox', 'true']);
    assert.equal(badStop.code, 125);
    assert.match(badStop.stderr, /Error response from daemon: Invalid signal: NOSUCH/);
    await ok(['run', '-d', '--network', 'none', '--name', 'sig', 'busybox', 'sleep', '300']);
    const badKill = await daemon.docker(['kill', '-s', 'NOSUCH', 'sig']);
    assert.equal(badKill.code, 1);
    assert.equal(badKill.stderr.trim(), 'Error response from daemon: Invalid signal: NOSUCH');
    // Not running: dockerd names the full id after the name the user gave.
    const stopped = (await ok(['create', '--network', 'none', '--name', 'idle', 'busybox', 'true'])).trim();
    try {
      const kill = await daemon.docker(['kill', 'idle']);
      assert.equal(kill.code, 1);
      assert.equal(kill.stderr.trim(), `Error response from daemon: cannot kill container: idle: container ${stopped} is not running`);
      const exec = await daemon.docker(['exec', 'idle', 'true']);
      assert.equal(exec.code, 1);
      assert.equal(exec.stderr.trim(), `Error response from daemon: container ${stopped} is not running`);
    } finally {
      await daemon.docker(['rm', '-f', 'idle']);
    }
  });

  it('events: exec_create, exec_start, exec_die (with its exit code), extract-to-dir and archive-path', async () => {
    await ok(['run', '-d', '--network', 'none', '--name', 'ev', 'busybox', 'sleep', '300']);
    const file = path.join(daemon.dir, 'in.txt');
    await writeFile(file, 'hello\n');
    await ok(['cp', file, 'ev:/tmp/']);
    assert.equal(await ok(['exec', 'ev', 'sh', '-c', 'cat /tmp/in.txt']), 'hello\n');
    assert.equal((await daemon.docker(['exec', 'ev', 'sh', '-c', 'exit 7'])).code, 7);
    await ok(['cp', 'ev:/tmp/in.txt', path.join(daemon.dir, 'out.txt')]);
    assert.equal(await readFile(path.join(daemon.dir, 'out.txt'), 'utf8'), 'hello\n');
    // `--until 0s` is now in whole seconds (the events of this second come after it): give the instant instead.
    const events = await ok(['events', '--since', '60s', '--until', new Date().toISOString(), '--filter', 'container=ev', '--format', '{{.Status}} {{.Actor.Attributes.exitCode}}']);
    assert.deepEqual(events.trim().split('\n'), [
      'create <no value>', 'start <no value>', 'extract-to-dir <no value>',
      'exec_create: sh -c cat /tmp/in.txt <no value>', 'exec_start: sh -c cat /tmp/in.txt <no value>', 'exec_die 0',
      'exec_create: sh -c exit 7 <no value>', 'exec_start: sh -c exit 7 <no value>', 'exec_die 7',
      'archive-path <no value>',
    ]);
  });
});
