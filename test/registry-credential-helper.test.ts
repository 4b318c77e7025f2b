/**
 * docker's credential helpers against a real htpasswd registry: a `docker-credential-testpass` shell script
 * (files under a directory, one per server) configured as credsStore or in credHelpers is the only place the
 * password lives; login stores through it, push and pull read it, logout erases it.
 */
import { strict as assert } from 'node:assert';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';
import { startTokenIssuer } from './helpers/token-issuer.js';

const USER = 'carol';
const PASSWORD = 'helper-kept-s3cret';

/** The protocol in ~20 lines of sh: get/store/erase/list over stdin/stdout, every call logged. */
const HELPER = `#!/bin/sh
set -e
dir="$TESTPASS_DIR"
echo "$1" >> "$dir/calls.log"
key() { printf '%s' "$1" | od -An -tx1 | tr -d ' \\n'; }
case "$1" in
  get)
    server=$(cat)
    if [ -f "$dir/$(key "$server").json" ]; then cat "$dir/$(key "$server").json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store)
    input=$(cat)
    server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p')
    printf '%s' "$input" > "$dir/$(key "$server").json" ;;
  erase)
    server=$(cat)
    if [ -f "$dir/$(key "$server").json" ]; then rm "$dir/$(key "$server").json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  list) echo '{}' ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac
`;

describe('credential helpers (credsStore, credHelpers) with an htpasswd registry', function () {
  this.timeout(120_000);
  let work: string;
  let root: string;
  let registry: RegistryServer;
  let bin: string;
  let helperDir: string;

  before(async function () {
    work = await makeTempDir('cred-helper');
    root = path.join(work, 'root');
    await loadBusyboxFixture(root, work);
    bin = path.join(work, 'bin');
    helperDir = path.join(work, 'helper-store');
    await mkdir(bin, { recursive: true });
    await mkdir(helperDir, { recursive: true });
    await writeFile(path.join(bin, 'docker-credential-testpass'), HELPER);
    await chmod(path.join(bin, 'docker-credential-testpass'), 0o755);
    registry = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  });
  after(async function () {
    await registry?.stop();
    if (work) await removeTempDir(work);
  });

  const cli = (dockerConfig: string, args: string[], options: { input?: string; root?: string } = {}): Promise<CliResult> =>
    runCli(args, {
      root: options.root ?? root,
      env: { DOCKER_CONFIG: dockerConfig, TESTPASS_DIR: helperDir, PATH: `${bin}:${process.env.PATH ?? ''}` },
      ...(options.input === undefined ? {} : { input: options.input }),
    });
  const calls = async (): Promise<string[]> => (await readFile(path.join(helperDir, 'calls.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const noSecret = (result: CliResult): void => assert.ok(!result.stdout.includes(PASSWORD) && !result.stderr.includes(PASSWORD), 'the password leaked');

  it('credsStore: login stores through the helper, push and pull read it, logout erases it', async function () {
    const dockerConfig = path.join(work, 'docker-store');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ credsStore: 'testpass' }));
    const host = registry.host;

    noSecret(expectSuccess(await cli(dockerConfig, ['login', '-u', USER, '--password-stdin', host], { input: `${PASSWORD}\n` }), 'login'));
    const config = JSON.parse(await readFile(path.join(dockerConfig, 'config.json'), 'utf8')) as { credsStore: string; auths: Record<string, unknown> };
    assert.equal(config.credsStore, 'testpass', 'other keys are kept');
    assert.deepEqual(config.auths[host], {}, 'the file keeps only an empty marker, as docker does');
    assert.ok(!JSON.stringify(config).includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64')));
    const stored = (await readdir(helperDir)).filter((f) => f.endsWith('.json'));
    assert.equal(stored.length, 1);
    assert.deepEqual(JSON.parse(await readFile(path.join(helperDir, stored[0]!), 'utf8')), { ServerURL: host, Username: USER, Secret: PASSWORD });

    noSecret(expectSuccess(await cli(dockerConfig, ['push', 'busybox', `${host}/team/busybox:v1`]), 'push through the helper'));
    const fresh = path.join(work, 'fresh-root');
    noSecret(expectSuccess(await cli(dockerConfig, ['pull', `${host}/team/busybox:v1`], { root: fresh }), 'pull through the helper'));
    assert.ok((await calls()).includes('get'));

    expectSuccess(await cli(dockerConfig, ['logout', host]), 'logout');
    assert.ok((await calls()).includes('erase'));
    assert.equal((await readdir(helperDir)).filter((f) => f.endsWith('.json')).length, 0, 'the helper forgot the secret');
    const denied = await cli(dockerConfig, ['pull', `${host}/team/busybox:v1`], { root: path.join(work, 'denied-root') });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /authentication|REGISTRY_AUTH|login/i);
  });

  it('credHelpers: a per-registry helper is the only source of the secret', async function () {
    const dockerConfig = path.join(work, 'docker-helpers');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'testpass' } }));
    // Seed the helper as another tool would have: the config file holds no auths at all.
    const key = Buffer.from(registry.host).toString('hex');
    await writeFile(path.join(helperDir, `${key}.json`), JSON.stringify({ ServerURL: registry.host, Username: USER, Secret: PASSWORD }));
    noSecret(expectSuccess(await cli(dockerConfig, ['push', 'busybox', `${registry.host}/team/other:v2`]), 'push'));
    noSecret(expectSuccess(await cli(dockerConfig, ['pull', `${registry.host}/team/other:v2`], { root: path.join(work, 'root-2') }), 'pull'));
  });

  it('an identity token from the helper (Username "<token>") is traded with the OAuth2 refresh grant', async function () {
    const IDENTITY = 'identity-token-never-printed';
    const issuer = await startTokenIssuer({ users: {}, refreshTokens: { [IDENTITY]: USER } });
    const tokenRegistry = await startRegistry({ token: issuer });
    try {
      const dockerConfig = path.join(work, 'docker-identity');
      await mkdir(dockerConfig, { recursive: true });
      await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ credHelpers: { [tokenRegistry.host]: 'testpass' } }));
      const key = Buffer.from(tokenRegistry.host).toString('hex');
      await writeFile(path.join(helperDir, `${key}.json`), JSON.stringify({ ServerURL: tokenRegistry.host, Username: '<token>', Secret: IDENTITY }));
      const pushed = expectSuccess(await cli(dockerConfig, ['push', 'busybox', `${tokenRegistry.host}/team/idtok:v1`]), 'push with an identity token');
      const pulled = expectSuccess(await cli(dockerConfig, ['pull', `${tokenRegistry.host}/team/idtok:v1`], { root: path.join(work, 'root-idtok') }), 'pull');
      for (const result of [pushed, pulled]) assert.ok(!result.stderr.includes(IDENTITY) && !result.stdout.includes(IDENTITY), 'the identity token leaked');
      assert.ok(issuer.requests.length > 0);
      assert.ok(issuer.requests.every((r) => r.grant === 'refresh_token' && r.authenticated && r.account === USER), JSON.stringify(issuer.requests));
    } finally {
      await tokenRegistry.stop();
      await issuer.stop();
    }
  });

  it('a configured helper that is not installed is a clear error', async function () {
    const dockerConfig = path.join(work, 'docker-missing');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ credsStore: 'not-installed' }));
    const result = await cli(dockerConfig, ['pull', `${registry.host}/team/busybox:v1`], { root: path.join(work, 'root-3') });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /docker-credential-not-installed is not on PATH/);
  });
});
