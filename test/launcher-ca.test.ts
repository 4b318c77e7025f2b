/**
 * bin/builder, the command users run, starts node without NODE_EXTRA_CA_CERTS (Node 20 parses it before any code
 * runs: ~30 ms per call) and the CLI adds those certificates to its first TLS context instead
 * (builder/cli/deferred-ca.ts). These tests hold it to Node's semantics against real TLS peers whose CA is trusted
 * only through that variable: a docker-registry (push, pull, a credential helper's environment) and an HTTPS
 * server for ADD (fetch), plus a missing file and a file with a broken certificate.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, repoRoot, runCommand, type CliResult } from './helpers/cli.js';
import { makeTestPki, startRegistry, type RegistryServer, type TestPki } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const LAUNCHER = path.join(repoRoot, 'bin', 'builder');
const USER = 'dana';
const PASSWORD = 'launcher-s3cret';

/** A credential helper that records the environment builder gives it, then answers with the test's login. */
const HELPER = `#!/bin/sh
env > "$ENV_DUMP"
cat > /dev/null
printf '{"ServerURL":"x","Username":"${USER}","Secret":"${PASSWORD}"}'
`;

describe('bin/builder defers NODE_EXTRA_CA_CERTS to the first TLS connection', function () {
  this.timeout(120_000);
  let work = '';
  let root = '';
  let pki: TestPki;
  let registry: RegistryServer | undefined;
  let env: Record<string, string> = {};

  before(async function () {
    if (!existsSync('/usr/bin/openssl')) { console.log('    skipped: openssl missing (apt-get install openssl)'); this.skip(); }
    if (!existsSync('/usr/bin/htpasswd')) { console.log('    skipped: htpasswd missing (apt-get install apache2-utils)'); this.skip(); }
    work = await makeTempDir('launcher-ca');
    await mkdir(path.join(work, 'pki'));
    pki = makeTestPki(path.join(work, 'pki'));
    registry = await startRegistry({ tls: pki, htpasswd: { user: USER, password: PASSWORD } });
    root = path.join(work, 'root');
    await loadBusyboxFixture(root, work);
    const bin = path.join(work, 'bin');
    await mkdir(bin);
    await writeFile(path.join(bin, 'docker-credential-envdump'), HELPER);
    await chmod(path.join(bin, 'docker-credential-envdump'), 0o755);
    const dockerConfig = path.join(work, 'docker-config');
    await mkdir(dockerConfig);
    await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'envdump' } }));
    // A loopback registry is plain http unless the config says otherwise.
    await writeFile(path.join(work, 'builder.toml'), `[registry."${registry.host}"]\nhttp = false\n`);
    env = {
      BUILDER_ROOT: root,
      BUILDER_CONFIG: path.join(work, 'builder.toml'),
      DOCKER_CONFIG: dockerConfig,
      ENV_DUMP: path.join(work, 'helper-env'),
      PATH: `${bin}:${process.env.PATH ?? ''}`,
    };
  });
  after(async () => {
    await registry?.stop();
    if (work) await removeTempDir(work);
  });

  const builder = (args: string[], extra: Record<string, string> = {}, options: { root?: string } = {}): Promise<CliResult> =>
    runCommand(LAUNCHER, args, { env: { ...env, ...(options.root ? { BUILDER_ROOT: options.root } : {}), ...extra } });

  it('pushes to and pulls from a registry whose CA is only in NODE_EXTRA_CA_CERTS; children get the variable back', async () => {
    const ref = `${registry!.host}/launcher/busybox:1`;
    expectSuccess(await builder(['tag', 'busybox:latest', ref]), 'tag');
    expectSuccess(await builder(['push', ref], { NODE_EXTRA_CA_CERTS: pki.ca }), 'push');
    const helperEnv = (await readFile(env.ENV_DUMP!, 'utf8')).split('\n');
    assert.ok(helperEnv.includes(`NODE_EXTRA_CA_CERTS=${pki.ca}`), 'a child process sees NODE_EXTRA_CA_CERTS as the user set it');
    assert.ok(!helperEnv.some((line) => line.startsWith('BUILDER_EXTRA_CA_CERTS=')), 'the hand-over variable does not leak to children');
    const fresh = path.join(work, 'fresh-root');
    expectSuccess(await builder(['pull', ref], { NODE_EXTRA_CA_CERTS: pki.ca }, { root: fresh }), 'pull');
    assert.match(expectSuccess(await builder(['images'], {}, { root: fresh }), 'images').stdout, /launcher\/busybox\s+1\s/);
  });

  it('fails on the certificate when the CA is not given (the registry is trusted through the variable alone)', async () => {
    const result = await builder(['push', `${registry!.host}/launcher/busybox:1`], { NODE_EXTRA_CA_CERTS: '' });
    assert.notEqual(result.code, 0, result.stdout);
    assert.match(result.stderr, /certificate/i);
  });

  it('keeps the good certificates of a file with a broken one, with Node\'s warning', async () => {
    const broken = path.join(work, 'broken.pem');
    await writeFile(broken, `${readFileSync(pki.ca, 'latin1')}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`);
    const result = expectSuccess(await builder(['push', `${registry!.host}/launcher/busybox:1`], { NODE_EXTRA_CA_CERTS: broken }), 'push');
    assert.match(result.stderr, /Warning: Ignoring extra certs from `.*broken\.pem`, load failed/);
  });

  it('leaves a missing file to Node, which warns and goes on', async () => {
    const result = expectSuccess(await builder(['images'], { NODE_EXTRA_CA_CERTS: path.join(work, 'missing.pem') }), 'images');
    assert.match(result.stderr, /Warning: Ignoring extra certs from `.*missing\.pem`, load failed/);
  });

  it('ADD of an https URL (fetch) trusts the deferred CA', async () => {
    const server = https.createServer({ cert: readFileSync(pki.certificate), key: readFileSync(pki.key) }, (_req, res) => res.end('served over tls\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const context = path.join(work, 'add-context');
      await mkdir(context, { recursive: true });
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/greeting.txt`;
      await writeFile(path.join(context, 'Dockerfile'), `FROM busybox\nADD ${url} /greeting.txt\n`);
      expectSuccess(await builder(['build', '--no-daemon', '-q', '-t', 'launcher-add:1', context], { NODE_EXTRA_CA_CERTS: pki.ca }), 'build');
      const untrusted = await builder(['build', '--no-daemon', '--no-cache', '-q', '-t', 'launcher-add:2', context], { NODE_EXTRA_CA_CERTS: '' });
      assert.notEqual(untrusted.code, 0, 'without the CA the download fails');
    } finally {
      server.close();
    }
  });

  it('starts node itself without the variable', async () => {
    // login --password-stdin waits on stdin: long enough to read the process's initial environment.
    const child = spawn(LAUNCHER, ['login', '-u', USER, '--password-stdin', registry!.host], {
      env: { ...process.env, ...env, NODE_EXTRA_CA_CERTS: pki.ca },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    try {
      let environ: string[] = [];
      for (let i = 0; i < 100; i++) {
        // The launcher is sh until it execs node (same pid).
        const cmdline = await readFile(`/proc/${child.pid}/cmdline`, 'utf8').catch(() => '');
        if (/dist\/builder\/cli\/(entry\.cjs|main\.js)/.test(cmdline)) {
          environ = (await readFile(`/proc/${child.pid}/environ`, 'utf8')).split('\0');
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(environ.length > 0, 'node started');
      assert.ok(!environ.some((line) => line.startsWith('NODE_EXTRA_CA_CERTS=')), 'node starts without NODE_EXTRA_CA_CERTS');
      assert.ok(environ.includes(`BUILDER_EXTRA_CA_CERTS=${pki.ca}`));
    } finally {
      child.stdin.end(`${PASSWORD}\n`);
      await new Promise((resolve) => child.once('close', resolve));
    }
  });
});
