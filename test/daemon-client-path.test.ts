/**
 * builder's CLI through a warm daemon, as users run it (bin/builder): the short path (builder/cli/daemon-fast.ts, its
 * own small bundle) must print what the embedded build prints, with the same exit codes; the context directory is
 * named over the unix socket rather than uploaded (api/docker/build-context-dir.ts), and a daemon that sees another
 * directory there (the client in another mount namespace) gets the tar instead.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { normalizeProgress as normalize, repoRoot, runCli, runCommand, type CliResult } from './helpers/cli.js';
import { daemonSkipReason, startTestDaemon, writeClientContext, type TestDaemon } from './helpers/daemon-server.js';
import { freePort } from './helpers/registry-server.js';

const LAUNCHER = path.join(repoRoot, 'bin', 'builder');

describe('builder build through a daemon from bin/builder', function () {
  this.timeout(120_000);
  let daemon: TestDaemon;
  let ctxDir: string;
  let tcpPort = 0;

  before(async function () {
    const reason = daemonSkipReason();
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    tcpPort = await freePort();
    daemon = await startTestDaemon('daemon-client-path', ['-H', `tcp://127.0.0.1:${tcpPort}`]);
    ctxDir = await writeClientContext(daemon.dir);
  });
  after(async () => { if (daemon) await daemon.stop(); });

  const viaDaemon = (args: string[]): Promise<CliResult> =>
    runCommand(LAUNCHER, args, { env: { BUILDER_ROOT: daemon.root, BUILDER_HOST: `unix://${daemon.socket}` } });
  const embedded = (args: string[]): Promise<CliResult> => runCli(['build', '--no-daemon', ...args], { root: daemon.root });

  it('prints what the embedded build prints: progress, the id, a failure with its excerpt and exit code', async () => {
    const okArgs = ['-t', 'mine:1', '-f', path.join(ctxDir, 'Dockerfile.ok'), ctxDir];
    assert.equal((await viaDaemon(['build', ...okArgs])).code, 0);
    const warm = await viaDaemon(['build', '--progress=plain', ...okArgs]);
    const local = await embedded(['--progress=plain', ...okArgs]);
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(warm.stdout, local.stdout, 'same image id');
    assert.equal(normalize(warm.stderr), normalize(local.stderr));
    assert.match(warm.stderr, /#\d+ CACHED/);
    const caches = await readdir(path.join(repoRoot, 'dist', 'builder', 'cli', '.code-cache'));
    assert.ok(caches.some((name) => name.startsWith('daemon-build-')), `the short path ran (its code cache is written): ${caches.join(', ')}`);

    const iidfile = path.join(daemon.dir, 'iid');
    const quiet = await viaDaemon(['build', '-q', '--iidfile', iidfile, ...okArgs]);
    assert.equal(quiet.stderr, '');
    assert.equal(quiet.stdout, `${await readFile(iidfile, 'utf8')}\n`);

    const failed = await viaDaemon(['build', '--progress=plain', ctxDir]);
    const failedLocal = await embedded(['--progress=plain', ctxDir]);
    assert.notEqual(failed.code, 0);
    assert.equal(failed.code, failedLocal.code);
    assert.equal(normalize(failed.stderr), normalize(failedLocal.stderr));
    assert.match(failed.stderr, />>> +4 \| RUN false/);
  });

  it('leaves what it cannot judge to the whole CLI: the same error, help and exit code', async () => {
    for (const args of [['build', '--progress', 'loud', ctxDir], ['build'], ['build', '--help'], ['build', '--secret', 'id=x,env=NOPE', ctxDir]]) {
      const fast = await viaDaemon(args);
      const whole = await runCli(args, { root: daemon.root, env: { BUILDER_HOST: `unix://${daemon.socket}`, BUILDER_NO_BUNDLE: '1' } });
      assert.deepEqual({ ...fast, stderr: normalize(fast.stderr) }, { ...whole, stderr: normalize(whole.stderr) }, args.join(' '));
    }
  });

  it('a daemon that sees another directory at the named path answers 409, and one that sees it builds from it', async () => {
    const info = await stat(ctxDir);
    const query = `/build?t=named:1&dockerfile=Dockerfile.ok`;
    const named = (id: string) => daemon.request('POST', query, {
      headers: { 'X-Builder-Events': '1', 'X-Builder-Context-Dir': encodeURIComponent(ctxDir), 'X-Builder-Context-Id': id, 'Content-Length': '0' },
    });
    const wrong = await named(`${info.dev}:${info.ino + 1}`);
    assert.equal(wrong.status, 409, wrong.body);
    assert.match(wrong.body, /send the context as a tar/);
    const right = await named(`${info.dev}:${info.ino}`);
    assert.equal(right.status, 200, right.body);
    assert.match(right.body, /"ManifestDigest":"sha256:[0-9a-f]{64}"/);
  });

  it('over TCP a named context is refused (another machine, as far as paths go): 409', async () => {
    const info = await stat(ctxDir);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port: tcpPort, method: 'POST', path: '/build?dockerfile=Dockerfile.ok', headers: {
        'X-Builder-Context-Dir': encodeURIComponent(ctxDir), 'X-Builder-Context-Id': `${info.dev}:${info.ino}`, 'Content-Length': '0',
      } }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      request.end();
    });
    assert.equal(answer.status, 409, answer.body);
    assert.match(answer.body, /only over the unix socket/);
  });

  it('a client in another mount namespace sends its own view of the context as a tar', async function () {
    try {
      execFileSync('unshare', ['-m', 'true'], { stdio: 'ignore' });
    } catch {
      console.log('      skipped: unshare -m is not permitted here');
      return this.skip();
    }
    // Inside the namespace another directory is mounted over ctxDir: same path, other files (and dev:ino).
    const shadow = path.join(daemon.dir, 'shadow');
    await mkdir(shadow, { recursive: true });
    await writeFile(path.join(shadow, 'Dockerfile'), 'FROM busybox\nCOPY b /b\nRUN cat /b\n');
    await writeFile(path.join(shadow, 'b'), 'only-in-the-namespace\n');
    const script = 'mount --make-rprivate / && mount --bind "$1" "$2" && exec "$3" build --progress=plain -t shadow:1 "$2"';
    const result = await runCommand('unshare', ['-m', 'sh', '-c', script, 'sh', shadow, ctxDir, LAUNCHER], {
      env: { BUILDER_ROOT: daemon.root, BUILDER_HOST: `unix://${daemon.socket}` },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /only-in-the-namespace/);
  });
});
