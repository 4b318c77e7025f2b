/**
 * `RUN --mount` of every type and `builder build --secret`, end to end through the real CLI: cache
 * mounts persist across builds (even with --no-cache) and never reach the image, locked and private
 * sharing, tmpfs size limits, bind mounts as cache inputs, and secrets that appear in no layer, config,
 * history, cache record, store file or log, and that do not change the cache key.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const SECRET_FILE_VALUE = 'file-secret-7d1f0c2a9b';
const SECRET_ENV_VALUE = 'env-secret-3e8a55c6d4';

/** Lines a step printed: `#n 0.123 text` → `text`, for the step whose progress name contains `name`. */
function stepOutput(result: CliResult, name: string): string[] {
  const lines = result.stderr.split('\n');
  const start = lines.find((line) => line.includes(name) && /^#\d+ \[/.test(line));
  assert.ok(start, `no step ${name} in:\n${result.stderr}`);
  const id = start.split(' ')[0]!;
  return lines.filter((line) => line.startsWith(`${id} `) && /^#\d+ \d+\.\d+ /.test(line)).map((line) => line.split(' ').slice(2).join(' '));
}

function wasCached(result: CliResult, name: string): boolean {
  const lines = result.stderr.split('\n');
  const id = lines.find((line) => line.includes(name) && /^#\d+ \[/.test(line))?.split(' ')[0];
  assert.ok(id, `no step ${name} in:\n${result.stderr}`);
  return lines.includes(`${id} CACHED`);
}

/** Every file of an OCI archive, gzip layers decompressed, as one buffer per blob. */
async function archiveBlobs(archive: string, dir: string): Promise<Buffer[]> {
  await mkdir(dir, { recursive: true });
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  const out: Buffer[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) await walk(full);
      else {
        const data = await readFile(full);
        out.push(data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data);
      }
    }
  };
  await walk(dir);
  return out;
}

describe('RUN --mount and build secrets (CLI)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let counter = 0;

  /** A context dir with a Dockerfile and files. */
  const context = async (dockerfile: string, files: Record<string, string> = {}): Promise<string> => {
    const dir = path.join(scratch, `ctx-${++counter}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    for (const [name, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), content);
    }
    return dir;
  };
  const build = (dir: string, extra: string[] = [], env: Record<string, string> = {}): Promise<CliResult> =>
    runCli(['build', '--progress=plain', ...extra, dir], { root, env });
  const runImage = async (tag: string, cmd: string[]): Promise<string> =>
    expectSuccess(await runCli(['run', '--rm', '--network=none', tag, ...cmd], { root }), `run ${cmd.join(' ')}`).stdout;
  const layerCount = async (tag: string): Promise<number> => {
    const inspect = expectSuccess(await runCli(['inspect', tag], { root }), 'inspect');
    return (JSON.parse(inspect.stdout) as { RootFS: { Layers: string[] } }[])[0]!.RootFS.Layers.length;
  };

  before(async function () {
    scratch = await makeTempDir('run-mounts-scratch');
    root = await makeFixtureRoot('run-mounts-root', scratch);
  });

  after(async function () {
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  it('keeps a cache mount across builds, even with --no-cache, and leaves nothing of it in the image', async function () {
    const dir = await context(`FROM busybox
RUN --mount=type=cache,target=/root/.cache/app n=$(cat /root/.cache/app/count 2>/dev/null || echo 0); echo $((n+1)) > /root/.cache/app/count; echo "count=$((n+1))"
`);
    const first = expectSuccess(await build(dir, ['-t', 'cache-mount', '--no-cache']), 'first build');
    const second = expectSuccess(await build(dir, ['-t', 'cache-mount', '--no-cache']), 'second build');
    assert.deepEqual(stepOutput(first, 'RUN --mount'), ['count=1']);
    assert.deepEqual(stepOutput(second, 'RUN --mount'), ['count=2']);
    // Neither /root/.cache nor the copied-up /root: the step changed nothing in the image.
    assert.equal(await layerCount('cache-mount'), 1);
    assert.equal(await runImage('cache-mount', ['sh', '-c', 'test ! -e /root/.cache && echo absent']), 'absent\n');
    const dirs = await readdir(path.join(root, 'cache-mounts'));
    assert.ok(dirs.length >= 1, 'cache dir lives under <root>/cache-mounts');
  });

  it('serialises sharing=locked writers and gives concurrent sharing=private writers separate dirs', async function () {
    const stage = (name: string, sharing: string, body: string): string =>
      `FROM busybox AS ${name}\nRUN --mount=type=cache,target=/c,id=${sharing}-test,sharing=${sharing} ${body}\n`;
    const locked = (name: string): string => stage(name, 'locked', `echo start-${name} >> /c/log; sleep 1; echo end-${name} >> /c/log`);
    const privately = (name: string): string => stage(name, 'private', `touch /c/${name}; sleep 1; ls /c > /seen-${name}`);
    const dir = await context(`${locked('la')}${locked('lb')}${privately('pa')}${privately('pb')}FROM busybox
COPY --from=la /etc/passwd /la
COPY --from=lb /etc/passwd /lb
COPY --from=pa /seen-pa /
COPY --from=pb /seen-pb /
RUN --mount=type=cache,target=/c,id=locked-test cat /c/log
`);
    const result = expectSuccess(await build(dir, ['-t', 'sharing']), 'build');
    const log = stepOutput(result, 'cat /c/log');
    assert.equal(log.length, 4, log.join('\n'));
    // Each start is followed by its own end: the two RUNs never overlapped.
    assert.equal(log[0]!.replace('start-', 'end-'), log[1]);
    assert.equal(log[2]!.replace('start-', 'end-'), log[3]);
    assert.equal(await runImage('sharing', ['cat', '/seen-pa']), 'pa\n');
    assert.equal(await runImage('sharing', ['cat', '/seen-pb']), 'pb\n');
  });

  it('mounts an empty tmpfs with a size limit, gone after the step', async function () {
    const dir = await context(`FROM busybox
RUN --mount=type=tmpfs,target=/scratch,size=64k echo data > /scratch/file && mount | grep ' /scratch ' && ! dd if=/dev/zero of=/scratch/big bs=1024 count=128 2>/dev/null
`);
    const result = expectSuccess(await build(dir, ['-t', 'tmpfs']), 'build');
    assert.match(stepOutput(result, 'RUN --mount').join('\n'), /tmpfs on \/scratch type tmpfs .*size=64k/);
    assert.equal(await layerCount('tmpfs'), 1);
  });

  it('makes a bind-mounted context path a cache input, and only that path', async function () {
    const dir = await context(`FROM busybox
RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /out.txt
`, { 'src/a.txt': 'one\n', 'other.txt': 'x\n' });
    expectSuccess(await build(dir, ['-t', 'bind-key']), 'first build');
    await writeFile(path.join(dir, 'other.txt'), 'changed outside the mount\n');
    assert.ok(wasCached(expectSuccess(await build(dir, ['-t', 'bind-key']), 'rebuild'), 'RUN --mount'), 'a change outside the mount keeps the cache');
    await writeFile(path.join(dir, 'src', 'a.txt'), 'two\n');
    assert.ok(!wasCached(expectSuccess(await build(dir, ['-t', 'bind-key']), 'rebuild'), 'RUN --mount'), 'a change inside the mount reruns');
    assert.equal(await runImage('bind-key', ['cat', '/out.txt']), 'two\n');
    const missing = await context('FROM busybox\nRUN --mount=type=bind,source=nope,target=/x true\n');
    const failed = await build(missing, ['-t', 'bind-missing']);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /Dockerfile:2: .*"nope" not found in build context/);
  });

  it('shows secrets from a file and an env var to the step, and nowhere else', async function () {
    const secretFile = path.join(scratch, 'token.txt');
    await writeFile(secretFile, SECRET_FILE_VALUE);
    const dir = await context(`FROM busybox
RUN --mount=type=secret,id=token sha256sum /run/secrets/token | cut -d' ' -f1 > /token.sha && stat -c '%a %u' /run/secrets/token > /token.mode
RUN --mount=type=secret,id=apikey,env=API_KEY,target=/etc/apikey printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1 > /apikey.sha && sha256sum /etc/apikey | cut -d' ' -f1 >> /apikey.sha
RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo skipped > /absent.txt
`);
    const flags = ['-t', 'secrets', '--secret', `id=token,src=${secretFile}`, '--secret', 'id=apikey,env=MY_API_KEY'];
    const result = expectSuccess(await build(dir, flags, { MY_API_KEY: SECRET_ENV_VALUE }), 'build');
    const sha = (text: string): string => execFileSync('sha256sum', { input: text }).toString().split(' ')[0]!;
    assert.equal(await runImage('secrets', ['cat', '/token.sha', '/token.mode', '/apikey.sha', '/absent.txt']),
      `${sha(SECRET_FILE_VALUE)}\n400 0\n${sha(SECRET_ENV_VALUE)}\n${sha(SECRET_ENV_VALUE)}\nskipped\n`);
    assert.equal(await runImage('secrets', ['sh', '-c', 'test ! -e /run && test ! -e /etc/apikey && echo clean']), 'clean\n');

    // Not in any layer, config, manifest or history of the saved image.
    const archive = path.join(scratch, 'secrets.tar');
    expectSuccess(await runCli(['save', '-o', archive, 'secrets'], { root }), 'save');
    for (const blob of await archiveBlobs(archive, path.join(scratch, 'secrets-unpacked'))) {
      assert.ok(!blob.includes(SECRET_FILE_VALUE) && !blob.includes(SECRET_ENV_VALUE), 'a saved blob holds a secret');
    }
    // Not in the logs, the inspect output, nor any file of the store (snapshots, cache records, cache mounts).
    const inspect = expectSuccess(await runCli(['inspect', 'secrets'], { root }), 'inspect');
    for (const text of [result.stdout, result.stderr, inspect.stdout]) {
      assert.ok(!text.includes(SECRET_FILE_VALUE) && !text.includes(SECRET_ENV_VALUE), `secret leaked into:\n${text}`);
    }
    const grep = (value: string): string => {
      try {
        return execFileSync('grep', ['-rlF', '--devices=skip', value, root]).toString();
      } catch {
        return ''; // grep exits 1 when nothing matches
      }
    };
    assert.equal(grep(SECRET_FILE_VALUE), '');
    assert.equal(grep(SECRET_ENV_VALUE), '');

    // New secret values do not invalidate the cache (they are not part of any key), as in BuildKit.
    await writeFile(secretFile, `${SECRET_FILE_VALUE}-rotated`);
    const again = expectSuccess(await build(dir, flags, { MY_API_KEY: `${SECRET_ENV_VALUE}-rotated` }), 'rebuild');
    assert.ok(wasCached(again, 'id=token') && wasCached(again, 'id=apikey'), again.stderr);
  });

  it('fails a required secret that was not given, and rejects a --secret file it cannot read', async function () {
    const dir = await context('FROM busybox\nRUN --mount=type=secret,id=needed,required=true cat /run/secrets/needed\n');
    const failed = await build(dir, ['-t', 'needs-secret']);
    assert.equal(failed.code, 2, failed.stderr);
    assert.match(failed.stderr, /Dockerfile:2: secret needed: not found/);
    const unreadable = await build(dir, ['-t', 'needs-secret', '--secret', `id=needed,src=${path.join(scratch, 'no-such-file')}`]);
    assert.equal(unreadable.code, 2, unreadable.stderr);
    assert.match(unreadable.stderr, /--secret id=needed: cannot read/);
  });
});
