import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from './bench-lib/proc.js';

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(REPO_DIR, 'scripts/make-busybox.sh');

describe('scripts/make-busybox.sh', () => {
  let cacheHome = '';
  let env: NodeJS.ProcessEnv = {};

  before(async () => {
    cacheHome = await mkdtemp(join(tmpdir(), 'make-busybox-test-'));
    env = { ...process.env, XDG_CACHE_HOME: cacheHome };
  });
  after(async () => {
    await rm(cacheHome, { recursive: true, force: true });
  });

  const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

  it('--tar-only prints only the cached tar path, and rebuilding gives identical bytes', async () => {
    const first = await runCommand('bash', [SCRIPT, '--tar-only'], { env });
    const tar = first.stdout.trim();
    assert.equal(tar, join(cacheHome, 'builder-fixtures/busybox.tar'));
    assert.equal(first.stdout, `${tar}\n`);
    const digest = await sha256(tar);
    await runCommand('bash', [SCRIPT, '--force'], { env });
    assert.equal(await sha256(tar), digest);
  });

  it('writes a docker-archive with the expected config and rootfs', async () => {
    const tar = (await runCommand('bash', [SCRIPT, '--tar-only'], { env })).stdout.trim();
    const manifest = JSON.parse((await runCommand('tar', ['-xOf', tar, 'manifest.json'])).stdout) as Array<{
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }>;
    assert.deepEqual(manifest[0]?.RepoTags, ['busybox:latest']);
    const layerPath = manifest[0]!.Layers[0]!;

    // skopeo is the peer oracle: it must read the archive and see our config.
    const config = JSON.parse((await runCommand('skopeo', ['inspect', '--config', `docker-archive:${tar}`])).stdout) as {
      architecture: string;
      os: string;
      config: { Cmd: string[]; Env: string[] };
      rootfs: { diff_ids: string[] };
    };
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.os, 'linux');
    assert.deepEqual(config.config.Cmd, ['sh']);
    assert.deepEqual(config.config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    assert.equal(config.rootfs.diff_ids[0], `sha256:${layerPath.split('/')[0]}`);

    const listing = await runCommand('bash', ['-c', 'tar -xOf "$1" "$2" | tar -tv --numeric-owner', 'list', tar, layerPath]);
    const entries = new Map(
      listing.stdout
        .trim()
        .split('\n')
        .map((line) => {
          const fields = line.split(/\s+/);
          return [fields[5]!, { mode: fields[0]!, owner: fields[1]!, rest: fields.slice(6).join(' ') }] as const;
        }),
    );
    assert.equal(entries.get('bin/sh')?.rest, '-> busybox');
    assert.equal(entries.get('bin/busybox')?.mode, '-rwxr-xr-x');
    assert.equal(entries.get('tmp/')?.mode, 'drwxrwxrwt');
    assert.equal(entries.get('home/app/')?.owner, '1000/1000');
    assert.equal(entries.get('etc/passwd')?.owner, '0/0');
    for (const dir of ['dev/', 'proc/', 'sys/', 'root/', 'usr/bin/', 'usr/sbin/']) assert.ok(entries.has(dir), dir);

    const passwd = (await runCommand('bash', ['-c', 'tar -xOf "$1" "$2" | tar -xO etc/passwd', 'passwd', tar, layerPath])).stdout;
    assert.match(passwd, /^root:x:0:0:/m);
    assert.match(passwd, /^app:x:1000:1000:app:\/home\/app:\/bin\/sh$/m);
    assert.match(passwd, /^nobody:x:65534:65534:/m);
  });
});
