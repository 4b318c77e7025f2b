/**
 * The real docker CLI 28 against `builder daemon`: version, info, build (progress, id, a failing RUN's exit code and
 * Dockerfile line), images, tag, rmi, inspect -f, save | load, push/pull through a loopback registry, events, 501s.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { daemonSkipReason, startTestDaemon, DOCKER_CLI, type TestDaemon } from './helpers/daemon-server.js';
import { runCommand } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';

describe('builder daemon with the docker CLI', function () {
  this.timeout(180_000);
  let daemon: TestDaemon;
  let ctxDir: string;

  before(async function () {
    const reason = daemonSkipReason();
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    daemon = await startTestDaemon('daemon-cli');
    ctxDir = path.join(daemon.dir, 'ctx');
    await mkdir(ctxDir, { recursive: true });
    await writeFile(path.join(ctxDir, 'Dockerfile'), 'FROM busybox\nRUN echo built-by-daemon\nENV A=1\nCOPY f /f\nRUN cat /f\nCMD ["cat", "/f"]\n');
    await writeFile(path.join(ctxDir, 'f'), 'content-of-f\n');
    await writeFile(path.join(ctxDir, 'Dockerfile.bad'), 'FROM busybox\nRUN true\n\nRUN echo failing && exit 3\n');
  });

  after(async () => {
    if (daemon) assert.equal(await daemon.stop(), 0, `daemon should exit 0 on SIGTERM: ${daemon.log()}`);
  });

  it('answers version and info with an honest API version', async () => {
    const version = await daemon.docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}}']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), '1.47 1.24 1.47');
    const info = await daemon.docker(['info', '--format', '{{.ServerVersion}} {{.Swarm.LocalNodeState}} {{.DockerRootDir}}']);
    assert.equal(info.code, 0, info.stderr);
    assert.equal(info.stdout.trim(), `0.1.0 inactive ${daemon.root}`);
  });

  it('builds a tar context with classic progress and an image id', async () => {
    const iidfile = path.join(daemon.dir, 'iid');
    const built = await daemon.docker(['build', '-t', 'app:1', '--iidfile', iidfile, ctxDir]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /Step 1\/6 : FROM busybox/);
    assert.match(built.stdout, /Step 2\/6 : RUN echo built-by-daemon\n(.*\n)?built-by-daemon\n/);
    assert.match(built.stdout, /Successfully built [0-9a-f]{12}\nSuccessfully tagged app:1/);
    const id = (await readFile(iidfile, 'utf8')).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const inspect = await daemon.docker(['inspect', '-f', '{{.Id}} {{index .RepoTags 0}} {{json .Config.Cmd}} {{index .Config.Env 1}}', 'app:1']);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.equal(inspect.stdout.trim(), `${id} app:1 ["cat","/f"] A=1`);
    const again = await daemon.docker(['build', '-q', '-t', 'app:1', ctxDir]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), id, 'a no-op rebuild gives the same image id');
  });

  it('passes build args, labels and target through', async () => {
    await writeFile(path.join(ctxDir, 'Dockerfile.params'), 'FROM busybox AS base\nARG WHO=nobody\nRUN echo "hello $WHO" > /who\nFROM base AS final\nRUN false\n');
    const built = await daemon.docker(['build', '-f', path.join(ctxDir, 'Dockerfile.params'), '--target', 'base', '--build-arg', 'WHO=daemon', '--label', 'team=builders', '-t', 'params:1', ctxDir]);
    assert.equal(built.code, 0, built.stderr);
    const labels = await daemon.docker(['inspect', '-f', '{{.Config.Labels.team}}', 'params:1']);
    assert.equal(labels.stdout.trim(), 'builders');
    if (existsSync('/usr/bin/conmon')) {
      const ran = await daemon.docker(['run', '--rm', 'params:1', 'cat', '/who']);
      assert.equal(ran.stdout, 'hello daemon\n', ran.stderr);
    }
    const platform = await daemon.docker(['build', '--platform', 'linux/s390x', '-f', path.join(ctxDir, 'Dockerfile.params'), ctxDir]);
    assert.notEqual(platform.code, 0);
    assert.match(platform.stderr, /Error response from daemon: platform "linux\/s390x" is not supported/);
  });

  it('builds a git repository named by remote= (what API clients send)', async () => {
    const repo = path.join(daemon.dir, 'repo');
    await mkdir(path.join(repo, 'app'), { recursive: true });
    await writeFile(path.join(repo, 'app', 'Dockerfile'), 'FROM busybox\nCOPY hello /hello\n');
    await writeFile(path.join(repo, 'app', 'hello'), 'from git\n');
    const git = (args: string[]) => runCommand('git', ['-C', repo, '-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args]);
    for (const args of [['init', '-q', '-b', 'main'], ['add', '.'], ['commit', '-qm', 'x']]) assert.equal((await git(args)).code, 0);
    const remote = encodeURIComponent(`file://${repo}#main:app`);
    const res = await daemon.request('POST', `/build?remote=${remote}&t=fromgit:1`, { headers: { 'Content-Type': 'application/x-tar' } });
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /Successfully tagged fromgit:1/);
    const traversal = await daemon.request('POST', `/build?remote=${encodeURIComponent(`file://${repo}#main:../x`)}`);
    assert.equal(traversal.status, 400);
    const tarball = await daemon.request('POST', `/build?remote=${encodeURIComponent('http://127.0.0.1:9/context.tar')}`);
    assert.equal(tarball.status, 501);
    assert.equal((await daemon.docker(['rmi', 'fromgit:1'])).code, 0);
  });

  it('fails a build with the RUN exit code and the Dockerfile line', async () => {
    const failed = await daemon.docker(['build', '-f', path.join(ctxDir, 'Dockerfile.bad'), ctxDir]);
    assert.equal(failed.code, 3, failed.stdout + failed.stderr);
    assert.match(failed.stdout, /failing/);
    assert.match(failed.stderr, /Dockerfile\.bad:4: process "\/bin\/sh -c echo failing && exit 3" did not complete successfully: exit code: 3/);
    const parse = await daemon.docker(['build', '-f', '-', ctxDir], { input: 'FROM busybox\nBOGUS x\n' });
    assert.notEqual(parse.code, 0);
    assert.match(parse.stderr, /Dockerfile:2: /);
  });

  it('lists, tags, removes and filters images', async () => {
    assert.equal((await daemon.docker(['tag', 'app:1', 'localhost/other:2'])).code, 0);
    const list = await daemon.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.deepEqual(list.stdout.trim().split('\n').sort(), ['app:1', 'busybox:latest', 'localhost/other:2', 'params:1']);
    const filtered = await daemon.docker(['images', '--filter', 'reference=app', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.equal(filtered.stdout.trim(), 'app:1');
    const rmi = await daemon.docker(['rmi', 'localhost/other:2']);
    assert.equal(rmi.code, 0, rmi.stderr);
    assert.equal(rmi.stdout.trim(), 'Untagged: localhost/other:2');
    const missing = await daemon.docker(['rmi', 'nope:1']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Error response from daemon: No such image: nope:1/);
    const history = await daemon.docker(['history', '--format', '{{.CreatedBy}}', 'app:1']);
    assert.match(history.stdout, /cat/);
  });

  it('saves and loads through a pipe (docker save | docker load)', async () => {
    const archive = path.join(daemon.dir, 'app.tar');
    assert.equal((await daemon.docker(['save', '-o', archive, 'app:1'])).code, 0);
    assert.equal((await daemon.docker(['rmi', 'app:1'])).code, 0);
    const env = Object.entries(daemon.env).map(([k, v]) => `${k}=${v}`).join(' ');
    const loaded = await runCommand('bash', ['-c', `${env} ${DOCKER_CLI} load < ${archive}`]);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.match(loaded.stdout, /Loaded image: app:1/);
    const piped = await runCommand('bash', ['-o', 'pipefail', '-c', `${env} ${DOCKER_CLI} save busybox | ${env} ${DOCKER_CLI} load`]);
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stdout, /Loaded image: busybox:latest/);
  });

  describe('with a loopback registry', () => {
    let registry: RegistryServer;
    before(async function () {
      if (!existsSync('/usr/bin/docker-registry')) {
        console.log('    skipped: docker-registry is not installed');
        return this.skip();
      }
      registry = await startRegistry();
    });
    after(async () => registry?.stop());

    it('pushes and pulls with docker progress', async () => {
      const name = `${registry.host}/team/app:7`;
      assert.equal((await daemon.docker(['tag', 'app:1', name])).code, 0);
      const pushed = await daemon.docker(['push', name]);
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.match(pushed.stdout, new RegExp(`The push refers to repository \\[${registry.host}/team/app\\]`));
      assert.match(pushed.stdout, /7: digest: sha256:[0-9a-f]{64} size: \d+/);
      assert.equal((await daemon.docker(['rmi', name])).code, 0);
      const pulled = await daemon.docker(['pull', name]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.match(pulled.stdout, /Digest: sha256:[0-9a-f]{64}/);
      const digests = await daemon.docker(['inspect', '-f', '{{join .RepoDigests ","}}', name]);
      assert.match(digests.stdout, new RegExp(`${registry.host}/team/app@sha256:`));
      const absent = await daemon.docker(['pull', `${registry.host}/team/absent:1`]);
      assert.equal(absent.code, 1);
      assert.match(absent.stderr, /Error response from daemon: /);
    });
  });

  describe('with a registry that needs a password', () => {
    let registry: RegistryServer;
    before(async function () {
      if (!existsSync('/usr/bin/docker-registry') || !existsSync('/usr/bin/htpasswd')) {
        console.log('    skipped: docker-registry or htpasswd is not installed');
        return this.skip();
      }
      registry = await startRegistry({ htpasswd: { user: 'alice', password: 'wonderland' } });
    });
    after(async () => registry?.stop());

    it('docker login checks through the daemon; push and pull send X-Registry-Auth', async () => {
      const bad = await daemon.docker(['login', '-u', 'alice', '--password-stdin', registry.host], { input: 'wrong\n' });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /401 Unauthorized/);
      const name = `${registry.host}/private/app:1`;
      assert.equal((await daemon.docker(['tag', 'busybox', name])).code, 0);
      const anonymous = await daemon.docker(['push', name]);
      assert.notEqual(anonymous.code, 0, 'no credentials yet: the push is refused');
      const good = await daemon.docker(['login', '-u', 'alice', '--password-stdin', registry.host], { input: 'wonderland\n' });
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stdout, /Login Succeeded/);
      const pushed = await daemon.docker(['push', name]);
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.equal((await daemon.docker(['rmi', name])).code, 0);
      const pulled = await daemon.docker(['pull', name]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal((await daemon.docker(['logout', registry.host])).code, 0);
    });
  });

  it('streams image events with since/until and filters', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    assert.equal((await daemon.docker(['tag', 'app:1', 'evt:1'])).code, 0);
    assert.equal((await daemon.docker(['rmi', 'evt:1'])).code, 0);
    const until = Math.floor(Date.now() / 1000) + 1;
    const events = await daemon.docker(['events', '--since', String(since), '--until', String(until), '--filter', 'type=image', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}']);
    assert.equal(events.code, 0, events.stderr);
    const lines = events.stdout.trim().split('\n');
    assert.ok(lines.includes('image tag evt:1'), events.stdout);
    assert.ok(lines.includes('image untag evt:1'), events.stdout);
    const onlyTags = await daemon.docker(['events', '--since', String(since), '--until', String(until), '--filter', 'event=tag', '--format', '{{.Action}}']);
    assert.ok(onlyTags.stdout.trim().split('\n').every((l) => l === 'tag'), onlyTags.stdout);
  });

  it('creates, lists, inspects and removes networks and volumes', async () => {
    const created = await daemon.docker(['network', 'create', '--subnet', '10.213.250.0/24', '--label', 'team=a', 'daemon-net']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout.trim(), /^[0-9a-f]{64}$/);
    const ls = await daemon.docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']);
    assert.ok(ls.stdout.split('\n').includes('daemon-net bridge'), ls.stdout);
    const inspect = await daemon.docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}} {{.Labels.team}}', 'daemon-net']);
    assert.equal(inspect.stdout.trim(), '10.213.250.0/24 a');
    if (existsSync('/usr/bin/conmon') && (existsSync('/usr/bin/netavark') || existsSync('/usr/lib/podman/netavark'))) {
      assert.equal((await daemon.docker(['run', '-d', '--name', 'joiner', 'busybox', 'sleep', '30'])).code, 0);
      const connected = await daemon.docker(['network', 'connect', 'daemon-net', 'joiner']);
      assert.equal(connected.code, 0, connected.stderr);
      const members = await daemon.docker(['network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}', 'daemon-net']);
      assert.match(members.stdout, /^joiner 10\.213\.250\.\d+\/24/);
      const addresses = await daemon.docker(['exec', 'joiner', 'ip', '-4', 'addr']);
      assert.match(addresses.stdout, /inet 10\.213\.250\.\d+\/24/);
      assert.equal((await daemon.docker(['network', 'disconnect', 'daemon-net', 'joiner'])).code, 0);
      assert.equal((await daemon.docker(['rm', '-f', 'joiner'])).code, 0);
    }
    assert.equal((await daemon.docker(['network', 'rm', 'daemon-net'])).code, 0);
    const gone = await daemon.docker(['network', 'inspect', 'daemon-net']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /not found/);

    assert.equal((await daemon.docker(['volume', 'create', '--label', 'k=v', 'daemon-vol'])).code, 0);
    const volumes = await daemon.docker(['volume', 'ls', '--filter', 'label=k=v', '--format', '{{.Name}}']);
    assert.equal(volumes.stdout.trim(), 'daemon-vol');
    const mountpoint = await daemon.docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'daemon-vol']);
    assert.equal(mountpoint.stdout.trim(), path.join(daemon.root, 'volumes', 'daemon-vol', '_data'));
    assert.equal((await daemon.docker(['volume', 'rm', 'daemon-vol'])).code, 0);
    const missing = await daemon.docker(['volume', 'rm', 'daemon-vol']);
    assert.match(missing.stderr, /Error response from daemon: .*no such volume/);
    const events = await daemon.docker(['events', '--since', '0', '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=volume', '--filter', 'type=network', '--format', '{{.Type}} {{.Action}}']);
    assert.deepEqual(events.stdout.trim().split('\n').filter((l) => !/connect/.test(l)), ['network create', 'network destroy', 'volume create', 'volume destroy']);
  });

  it('answers docker\'s not-supported error for swarm and search', async () => {
    const swarm = await daemon.docker(['swarm', 'init']);
    assert.equal(swarm.code, 1);
    assert.match(swarm.stderr, /Error response from daemon: swarm mode is not supported by builder daemon/);
    const search = await daemon.docker(['search', 'busybox']);
    assert.match(search.stderr, /Error response from daemon: docker search is not supported/);
  });
});
