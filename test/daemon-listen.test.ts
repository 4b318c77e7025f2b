/**
 * `builder daemon -H`: the unix socket is 0660 root:root, `fd://` takes a systemd-activated socket, TCP off loopback
 * is refused without TLS or a token, and a token listener answers 401 without `Authorization: Bearer`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cliMain, runCli, runCommand } from './helpers/cli.js';
import { DOCKER_CLI, daemonSkipReason, startTestDaemon } from './helpers/daemon-server.js';
import { freePort } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('builder daemon listeners', function () {
  this.timeout(60_000);
  let dir: string;
  before(async function () {
    const reason = daemonSkipReason();
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    dir = await makeTempDir('daemon-listen');
  });
  after(async () => { if (dir) await removeTempDir(dir); });

  it('creates its unix socket 0660 owned by root and removes it on SIGTERM', async () => {
    const daemon = await startTestDaemon('daemon-perm');
    const info = statSync(daemon.socket);
    assert.equal(info.mode & 0o777, 0o660);
    assert.equal(info.uid, 0);
    assert.equal(info.gid, 0);
    const socket = daemon.socket;
    assert.equal(await daemon.stop(), 0);
    assert.ok(!existsSync(socket));
    const grouped = await startTestDaemon('daemon-group', ['--group', '1']);
    assert.equal(statSync(grouped.socket).gid, 1, '--group lets that group in');
    assert.equal(statSync(grouped.socket).mode & 0o777, 0o660);
    assert.equal(await grouped.stop(), 0);
  });

  it('refuses TCP off loopback without TLS or a token', async () => {
    const refused = await runCli(['daemon', '-H', 'tcp://0.0.0.0:23751'], { root: path.join(dir, 'root') });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /refusing to listen on tcp:\/\/0\.0\.0\.0:23751 without authentication/);
    const tlsPartial = await runCli(['daemon', '--tlsverify', '-H', 'tcp://0.0.0.0:23751'], { root: path.join(dir, 'root') });
    assert.match(tlsPartial.stderr, /--tlsverify needs --tlscacert, --tlscert and --tlskey/);
  });

  it('takes a systemd-activated socket with -H fd://', async function () {
    if (!existsSync('/usr/bin/systemd-socket-activate')) {
      console.log('    skipped: systemd-socket-activate is not installed');
      return this.skip();
    }
    const socket = path.join(dir, 'activated.sock');
    const child = spawn('/usr/bin/systemd-socket-activate', ['-l', socket, process.execPath, cliMain, '--root', path.join(dir, 'root'), 'daemon', '-H', 'fd://', '--log-level', 'warn'], { stdio: 'ignore' });
    try {
      await waitFor(async () => existsSync(socket), 'the activation socket');
      const version = await runCommand(DOCKER_CLI, ['version', '--format', '{{.Server.APIVersion}}'], { env: { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: dir } });
      assert.equal(version.stdout.trim(), '1.47', version.stderr);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('demands TLS client certificates with --tlsverify', async function () {
    if (!existsSync('/usr/bin/openssl')) {
      console.log('    skipped: openssl is not installed');
      return this.skip();
    }
    const certs = path.join(dir, 'certs');
    await mkdir(certs, { recursive: true });
    const ssl = async (args: string[]): Promise<void> => {
      const result = await runCommand('openssl', args, { cwd: certs });
      assert.equal(result.code, 0, result.stderr);
    };
    await ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca-key.pem', '-out', 'ca.pem']);
    await writeFile(path.join(certs, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await writeFile(path.join(certs, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const who of ['server', 'client']) {
      await ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}-key.pem`, '-out', `${who}.csr`]);
      await ssl(['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '1', '-extfile', `${who}.ext`, '-out', `${who}.pem`]);
    }
    const port = await freePort();
    const child = spawn(process.execPath, [cliMain, '--root', path.join(dir, 'root'), 'daemon', '-H', `tcp://127.0.0.1:${port}`, '--tlsverify',
      '--tlscacert', path.join(certs, 'ca.pem'), '--tlscert', path.join(certs, 'server.pem'), '--tlskey', path.join(certs, 'server-key.pem'), '--log-level', 'warn'], { stdio: 'ignore' });
    try {
      const env = { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_CONFIG: path.join(dir, 'tls-config') };
      const tls = ['--tlsverify', '--tlscacert', path.join(certs, 'ca.pem'), '--tlscert', path.join(certs, 'client.pem'), '--tlskey', path.join(certs, 'client-key.pem')];
      let ok = await runCommand(DOCKER_CLI, [...tls, 'version', '--format', '{{.Server.Version}}'], { env });
      for (let i = 0; i < 50 && ok.code !== 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        ok = await runCommand(DOCKER_CLI, [...tls, 'version', '--format', '{{.Server.Version}}'], { env });
      }
      assert.equal(ok.stdout.trim(), '0.1.0', ok.stderr);
      const noClientCert = await runCommand(DOCKER_CLI, ['--tlsverify', '--tlscacert', path.join(certs, 'ca.pem'), 'version'], { env });
      assert.notEqual(noClientCert.code, 0, 'a client without a certificate is refused');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('requires the bearer token on a token TCP listener', async () => {
    const port = await freePort();
    const tokenFile = path.join(dir, 'token');
    await writeFile(tokenFile, 'secret-token-123\n');
    const child = spawn(process.execPath, [cliMain, '--root', path.join(dir, 'root'), 'daemon', '-H', `tcp://127.0.0.1:${port}`, '--auth-token-file', tokenFile, '--log-level', 'warn'], { stdio: 'ignore' });
    try {
      const without = { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_CONFIG: path.join(dir, 'no-token') };
      await mkdir(without.DOCKER_CONFIG, { recursive: true });
      await waitFor(async () => (await runCommand(DOCKER_CLI, ['version'], { env: without })).stderr.includes('unauthorized'), 'the TCP listener');
      const withToken = path.join(dir, 'with-token');
      await mkdir(withToken, { recursive: true });
      await writeFile(path.join(withToken, 'config.json'), JSON.stringify({ HttpHeaders: { Authorization: 'Bearer secret-token-123' } }));
      const ok = await runCommand(DOCKER_CLI, ['version', '--format', '{{.Server.Version}}'], { env: { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_CONFIG: withToken } });
      assert.equal(ok.stdout.trim(), '0.1.0', ok.stderr);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
