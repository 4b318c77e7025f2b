/**
 * Registry auth against real registries: htpasswd Basic (bcrypt) and token auth with a test issuer signing
 * RS256 JWTs. `builder login`/`logout` write docker's config file; secrets never show up in output.
 */
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';
import { startTokenIssuer, type TokenIssuer } from './helpers/token-issuer.js';

const USER = 'alice';
const PASSWORD = 'pa55-w0rd-never-printed';
const WRONG = 'wrong-pa55-never-printed';

function assertNoSecrets(result: CliResult): void {
  for (const secret of [PASSWORD, WRONG, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) {
    assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'a secret leaked into the output');
  }
}

describe('registry auth (real docker-registry)', function () {
  this.timeout(120_000);
  let work: string;
  let root: string;
  let dockerConfig: string;

  before(async function () {
    work = await makeTempDir('registry-auth');
    root = path.join(work, 'root');
    await loadBusyboxFixture(root, work);
  });
  after(async function () {
    await removeTempDir(work);
  });

  /** The CLI with its own DOCKER_CONFIG, never the user's. */
  const cli = (args: string[], input?: string): Promise<CliResult> =>
    runCli(['--debug', ...args], { root, env: { DOCKER_CONFIG: dockerConfig }, ...(input === undefined ? {} : { input }) });

  async function loginFlow(host: string): Promise<void> {
    const anonymous = await cli(['push', 'busybox', `${host}/team/busybox:v1`]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /REGISTRY_AUTH|authentication|refused|login/i);

    const wrong = await cli(['login', '-u', USER, '--password-stdin', host], `${WRONG}\n`);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /authentication failed|refused|rejected/i);
    assertNoSecrets(wrong);
    await assert.rejects(readFile(path.join(dockerConfig, 'config.json'), 'utf8'), 'a failed login writes nothing');

    const right = expectSuccess(await cli(['login', '-u', USER, '--password-stdin', host], `${PASSWORD}\n`), 'login');
    assert.match(right.stdout, /Login Succeeded/);
    assertNoSecrets(right);
    const saved = JSON.parse(await readFile(path.join(dockerConfig, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(saved.auths[host]!.auth, 'base64').toString(), `${USER}:${PASSWORD}`);

    assertNoSecrets(expectSuccess(await cli(['push', 'busybox', `${host}/team/busybox:v1`]), 'push with credentials'));
    assertNoSecrets(expectSuccess(await cli(['pull', `${host}/team/busybox:v1`]), 'pull with credentials'));

    const out = expectSuccess(await cli(['logout', host]), 'logout');
    assert.match(out.stdout, /Removing login credentials/);
    const after = JSON.parse(await readFile(path.join(dockerConfig, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
    assert.equal(after.auths[host], undefined);
    const denied = await cli(['pull', `${host}/team/busybox:v1`]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /REGISTRY_AUTH|authentication|refused|login/i);
  }

  describe('htpasswd (Basic)', function () {
    let registry: RegistryServer;
    before(async function () {
      dockerConfig = path.join(work, 'docker-basic');
      registry = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
    });
    after(async () => registry?.stop());

    it('refuses anonymous and wrong credentials, then logs in, pushes, pulls and logs out', async function () {
      await loginFlow(registry.host);
    });
  });

  describe('token (Bearer JWT from an issuer)', function () {
    let registry: RegistryServer;
    let issuer: TokenIssuer;
    before(async function () {
      dockerConfig = path.join(work, 'docker-token');
      issuer = await startTokenIssuer({ users: { [USER]: PASSWORD } });
      registry = await startRegistry({ token: issuer });
    });
    after(async () => {
      await registry?.stop();
      await issuer?.stop();
    });

    it('refuses anonymous and wrong credentials, then logs in, pushes, pulls and logs out', async function () {
      await loginFlow(registry.host);
    });

    it('asks the issuer once per scope set for a whole push (tokens are cached)', async function () {
      expectSuccess(await cli(['login', '-u', USER, '--password-stdin', registry.host], `${PASSWORD}\n`), 'login');
      const before = issuer.requests.length;
      expectSuccess(await cli(['push', 'busybox', `${registry.host}/team/cached:v1`]), 'push');
      const asked = issuer.requests.slice(before);
      assert.ok(asked.length >= 1 && asked.length <= 2, `token requests for one push: ${JSON.stringify(asked)}`);
      assert.ok(asked.every((r) => r.authenticated && r.account === USER));
      assert.ok(asked.some((r) => r.scopes.includes('repository:team/cached:pull,push')));
    });
  });
});
