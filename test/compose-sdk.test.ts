/**
 * Two more real clients of `builder daemon`: the Docker SDK for Python (Debian's python3-docker 5.0.3, driven by
 * test/fixtures/compose-sdk/sdk_driver.py) and docker-compose 1.29.2 (built on it) with
 * test/fixtures/compose-sdk/docker-compose.yml: a built service and a busybox service, a named volume, a user
 * network, depends_on a healthy service, environment, a port published on 127.0.0.1. Neither client is changed;
 * everything they need comes from the daemon's private store (busybox loaded, web built, a loopback registry).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { repoRoot, runCommand, type CliResult } from './helpers/cli.js';
import { containerDaemonSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon-server.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';

// Debian's interpreter: the SDK is in its dist-packages (a python3 earlier on PATH may have another docker module).
const PYTHON = '/usr/bin/python3';
const COMPOSE = '/usr/bin/docker-compose';
const FIXTURES = path.join(repoRoot, 'test', 'fixtures', 'compose-sdk');

function skipReason(): string | undefined {
  const reason = containerDaemonSkipReason();
  if (reason) return reason;
  if (!existsSync('/usr/lib/python3/dist-packages/docker/__init__.py')) return 'python3-docker is not installed (scripts/setup.sh)';
  if (!existsSync(COMPOSE)) return 'docker-compose is not installed (scripts/setup.sh)';
  if (!existsSync('/usr/bin/netavark') && !existsSync('/usr/lib/podman/netavark')) return 'netavark is not installed (compose needs user networks)';
  return undefined;
}

function httpGet(hostPort: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(`http://${hostPort}/`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

const ok = (result: CliResult, what: string): CliResult => {
  assert.equal(result.code, 0, `${what} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
};

describe('builder daemon with the Docker SDK for Python and docker-compose', function () {
  this.timeout(240_000);
  let daemon: TestDaemon | undefined;
  let registry: RegistryServer | undefined;

  before(async function () {
    const reason = skipReason();
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    daemon = await startTestDaemon('compose-sdk');
    registry = await startRegistry({ parentDir: daemon.dir });
  });
  after(async () => {
    await registry?.stop();
    await daemon?.stop();
  });

  it('docker-py: version, images, push/pull, run, logs, exec, archives, networks, volumes, build, prune', async () => {
    const prefix = `sdk${randomBytes(3).toString('hex')}`;
    const result = ok(await runCommand(PYTHON, [path.join(FIXTURES, 'sdk_driver.py'), prefix, path.join(FIXTURES, 'sdk-ctx'), registry!.host], {
      env: daemon!.env, timeoutMs: 180_000,
    }), 'sdk_driver.py');
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(out.sdk, '5.0.3');
    assert.equal(out.ping, true);
    assert.equal(out.api_version, '1.47');
    assert.equal(out.api_min_version, '1.24');
    assert.deepEqual(out.info_keys, ['Containers', 'Driver', 'Images', 'MemTotal', 'NCPU', 'OperatingSystem', 'ServerVersion']);
    assert.ok((out.image_tags as string[]).includes('busybox:latest'), String(out.image_tags));
    assert.match(String(out.busybox_id), /^sha256:[0-9a-f]{64}$/);
    assert.equal(out.absent_image, 404);
    assert.deepEqual(out.push_errors, []);
    assert.equal(out.pulled_id, out.busybox_id, 'the pulled image is the pushed busybox');
    assert.ok((out.pulled_tags as string[]).includes(`${registry!.host}/${prefix}/busybox:1`), String(out.pulled_tags));
    // containers.run() without detach reads stdout through /logs, which it only does for json-file (LogConfig.Type).
    assert.equal(out.run_output, 'run-out\n');
    assert.deepEqual(out.run_failure, { exit_status: 3, stderr: 'failing\n' });
    assert.equal(out.detached_status, 'created');
    assert.equal(out.reloaded_status, 'running');
    assert.deepEqual(out.listed, [`${prefix}-detached`]);
    assert.equal(out.logs, 'started\n');
    assert.deepEqual(out.exec, { exit_code: 4, output: 'exec-out yes\n' });
    assert.deepEqual(out.exec_demux, ['to-out\n', 'to-err\n']);
    assert.equal(out.put_archive, true);
    assert.deepEqual(out.get_archive, { name: 'put.txt', size: 11, content: 'put-by-sdk\n' });
    assert.deepEqual(out.network_members, [`${prefix}-detached`]);
    // inspect shows a network connected to a running container (it used to show only the ones joined at start).
    assert.deepEqual(out.container_networks, ['bridge', `${prefix}-net`]);
    assert.deepEqual(out.volume, { name: `${prefix}-vol`, driver: 'local' });
    assert.equal(out.volume_run, 'kept\n');
    assert.deepEqual(out.built_tags, [`${prefix}/built:1`]);
    assert.match(String(out.build_stream), /Step 1\/4 : FROM busybox\n[\s\S]*Step 3\/4 : RUN echo built-by-sdk >> \/greeting\n[\s\S]*Successfully built [0-9a-f]{12}\n/);
    assert.equal(out.built_run, 'from-context\nbuilt-by-sdk\n');
    assert.equal(out.stopped_status, 'exited');
    assert.equal(out.removed, 404);
    assert.equal(out.leftover_pruned, true);
    assert.deepEqual(out.network_prune, { NetworksDeleted: null });
    // What dockerd 20.10 answers to the same script (measured): null for networks, [] for volumes.
    assert.deepEqual(out.volume_prune, { VolumesDeleted: [], SpaceReclaimed: 0 });
    const remaining = ok(await daemon!.docker(['ps', '-a', '-q', '--filter', `label=sdk.test=${prefix}`]), 'docker ps');
    assert.equal(remaining.stdout, '');
  });

  it('docker-compose: up --build, ps, logs, exec, run --rm, stop, start, down -v', async () => {
    const project = `cmp${randomBytes(3).toString('hex')}`;
    // COMPOSE_DOCKER_CLI_BUILD=0: compose builds through docker-py's /build, not by running the docker CLI.
    const env = { ...daemon!.env, COMPOSE_PROJECT_NAME: project, COMPOSE_DOCKER_CLI_BUILD: '0', COMPOSE_INTERACTIVE_NO_CLI: '1' };
    const compose = (args: string[]): Promise<CliResult> =>
      runCommand(COMPOSE, ['-f', path.join(FIXTURES, 'docker-compose.yml'), '--no-ansi', ...args], { env, timeoutMs: 120_000, cwd: FIXTURES });
    try {
      const up = ok(await compose(['up', '-d', '--build']), 'compose up');
      assert.match(up.stderr, new RegExp(`Creating network "${project}_back" with the default driver`));
      assert.match(up.stderr, new RegExp(`Creating volume "${project}_data" with default driver`));
      assert.match(up.stdout + up.stderr, /Successfully built [0-9a-f]{12}/);
      assert.match(up.stderr, new RegExp(`Creating ${project}_client_1 \\.\\.\\. done`));

      // Label filters are AND-ed (project and service): one line per container, numbered from 1.
      const ps = ok(await compose(['ps']), 'compose ps');
      const rows = ps.stdout.split('\n').filter((line) => line.startsWith(project));
      assert.equal(rows.length, 2, ps.stdout);
      assert.match(rows.find((row) => row.startsWith(`${project}_web_1 `)) ?? '', /Up \(healthy\)\s+127\.0\.0\.1:\d+->80\/tcp/);
      assert.match(rows.find((row) => row.startsWith(`${project}_client_1 `)) ?? '', / Up /);

      const port = ok(await compose(['port', 'web', '80']), 'compose port').stdout.trim();
      assert.match(port, /^127\.0\.0\.1:\d+$/);
      assert.equal(await httpGet(port), 'compose-web-ok\n');

      // The client writes its line when it starts: read again (bounded) until it is there.
      let logs = ok(await compose(['logs', '--no-color', 'client']), 'compose logs');
      for (let i = 0; i < 20 && !/client-started/.test(logs.stdout); i++) logs = ok(await compose(['logs', '--no-color', 'client']), 'compose logs');
      assert.match(logs.stdout, /client_1\s+\| client-started/);

      // The services reach each other by service name on the project network (aardvark-dns), and share the volume.
      const fromClient = ok(await compose(['exec', '-T', 'client', 'sh', '-c', 'wget -q -O - http://web/ && echo $ROLE && echo shared > /shared/f']), 'exec client');
      assert.equal(fromClient.stdout, 'compose-web-ok\nclient\n');
      const fromWeb = ok(await compose(['exec', '-T', 'web', 'sh', '-c', 'ping -c 1 -W 5 client >/dev/null && echo reached && echo $GREETING && cat /data/f']), 'exec web');
      assert.equal(fromWeb.stdout, 'reached\nhello-from-env\nshared\n');

      // Connected before its first start (created on back, connected to front): an address on each.
      const addresses = ok(await compose(['exec', '-T', 'client', 'sh', '-c', "ip -4 -o addr show | grep -v ' lo ' | wc -l"]), 'exec ip addr');
      assert.equal(addresses.stdout.trim(), '2');
      const networks = ok(await daemon!.docker(['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', `${project}_client_1`]), 'inspect');
      assert.equal(networks.stdout.trim(), `${project}_back ${project}_front`);

      const run = ok(await compose(['run', '--rm', '--no-deps', 'client', 'sh', '-c', 'echo one-off; wget -q -O - http://web/']), 'compose run --rm');
      assert.match(run.stdout, /one-off\ncompose-web-ok\n/);
      const oneOffs = ok(await daemon!.docker(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'label=com.docker.compose.oneoff=True']), 'docker ps');
      assert.equal(oneOffs.stdout, '', 'run --rm left its container');

      // compose events: a label-filtered /events stream (labels are in every container event's attributes).
      const events = spawn(COMPOSE, ['-f', path.join(FIXTURES, 'docker-compose.yml'), 'events', '--json'], { cwd: FIXTURES, env: { ...process.env, ...env } });
      let seen = '';
      events.stdout.on('data', (chunk: Buffer) => (seen += chunk.toString()));
      try {
        const actions = (): { action: string; service: string }[] => seen.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { action: string; service: string });
        // The stream has no "subscribed" signal: exec until one of its events arrives (bounded), then restart.
        for (let i = 0; i < 50 && !actions().some((e) => e.action === 'exec_die' && e.service === 'client'); i++) {
          ok(await compose(['exec', '-T', 'client', 'true']), 'exec true');
        }
        ok(await compose(['restart', '-t', '1', 'client']), 'compose restart');
        for (let i = 0; i < 100 && !actions().some((e) => e.action === 'restart'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
        const client = actions().filter((e) => e.service === 'client' && !e.action.startsWith('exec')).map((e) => e.action);
        assert.deepEqual(client.slice(client.indexOf('kill')), ['kill', 'die', 'stop', 'start', 'restart'], seen);
      } finally {
        events.kill();
      }

      ok(await compose(['stop']), 'compose stop');
      const stopped = ok(await compose(['ps']), 'compose ps');
      assert.equal(stopped.stdout.split('\n').filter((line) => line.startsWith(project) && / Exit \d+/.test(line)).length, 2, stopped.stdout);
      // start reconnects every service (compose looks for the short id among the network aliases).
      ok(await compose(['start']), 'compose start');
      const again = ok(await compose(['exec', '-T', 'client', 'wget', '-q', '-O', '-', 'http://web/']), 'exec after start');
      assert.equal(again.stdout, 'compose-web-ok\n');
      const upAgain = ok(await compose(['up', '-d']), 'compose up again');
      assert.match(upAgain.stderr, new RegExp(`${project}_web_1 is up-to-date`));
    } finally {
      const down = await compose(['down', '-v', '-t', '1']);
      assert.equal(down.code, 0, down.stderr);
    }
    const label = `label=com.docker.compose.project=${project}`;
    assert.equal(ok(await daemon!.docker(['ps', '-a', '-q', '--filter', label]), 'docker ps').stdout, '');
    assert.equal(ok(await daemon!.docker(['network', 'ls', '-q', '--filter', label]), 'network ls').stdout, '');
    assert.equal(ok(await daemon!.docker(['volume', 'ls', '-q', '--filter', label]), 'volume ls').stdout, '');
    ok(await daemon!.docker(['rmi', `${project}/web:1`]), 'rmi');
  });

  it('network connect/disconnect of a created and a stopped container take effect at the next start', async () => {
    const tag = randomBytes(3).toString('hex');
    const [first, second, name] = [`cn1-${tag}`, `cn2-${tag}`, `cn-${tag}`];
    const docker = async (args: string[]): Promise<CliResult> => daemon!.docker(args);
    ok(await docker(['network', 'create', first]), 'network create');
    ok(await docker(['network', 'create', second]), 'network create');
    try {
      ok(await docker(['create', '--name', name, '--network', first, 'busybox', 'sleep', '600']), 'create');
      ok(await docker(['network', 'connect', '--alias', 'other-name', second, name]), 'connect while created');
      // Again while created: the endpoint's settings are replaced (dockerd 20.10 the same); running, it is a conflict.
      ok(await docker(['network', 'connect', '--alias', 'other-name', second, name]), 'connect again while created');
      const id = ok(await docker(['inspect', '-f', '{{.Id}}', name]), 'inspect').stdout.trim();
      const aliases = ok(await docker(['inspect', '-f', `{{json (index .NetworkSettings.Networks "${second}").Aliases}}`, name]), 'inspect');
      assert.deepEqual(JSON.parse(aliases.stdout), ['other-name', id.slice(0, 12)]);
      ok(await docker(['start', name]), 'start');
      const addresses = ok(await docker(['exec', name, 'sh', '-c', "ip -4 -o addr show | grep -v ' lo ' | wc -l"]), 'exec');
      assert.equal(addresses.stdout.trim(), '2');
      const running = await docker(['network', 'connect', second, name]);
      assert.match(running.stderr, new RegExp(`endpoint with name ${name} already exists in network ${second}`));
      ok(await docker(['stop', '-t', '0', name]), 'stop');
      // Measured on dockerd 20.10: even the NetworkMode network can be left while stopped; the start then skips it.
      ok(await docker(['network', 'disconnect', first, name]), 'disconnect NetworkMode network while stopped');
      const again = await docker(['network', 'disconnect', first, name]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, new RegExp(`container ${id} is not connected to network ${first}`));
      ok(await docker(['start', name]), 'start again');
      const left = ok(await docker(['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', name]), 'inspect');
      assert.equal(left.stdout.trim(), second);
      const one = ok(await docker(['exec', name, 'sh', '-c', "ip -4 -o addr show | grep -v ' lo ' | wc -l"]), 'exec');
      assert.equal(one.stdout.trim(), '1');
      ok(await docker(['stop', '-t', '0', name]), 'stop');
      ok(await docker(['network', 'disconnect', second, name]), 'disconnect while stopped');
      ok(await docker(['network', 'connect', first, name]), 'rejoin the NetworkMode network');
      const back = ok(await docker(['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', name]), 'inspect');
      assert.equal(back.stdout.trim(), first);
    } finally {
      await docker(['rm', '-f', name]);
      await docker(['network', 'rm', first, second]);
    }
  });
});
