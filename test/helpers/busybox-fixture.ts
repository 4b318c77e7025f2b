/**
 * The busybox base image every test case builds FROM, made from Debian's busybox-static:
 * /bin/busybox + applet symlinks, /etc/passwd (root, nobody, app 1000:1000), Cmd ["sh"], Env PATH.
 * Written as a docker-archive (what `docker save` writes) so it also exercises `builder load`.
 * scripts/make-busybox.sh is the project's own maker; when present it is used instead.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import tar, { type Header } from 'tar-stream';
import { expectSuccess, repoRoot, runCli, runCommand } from './cli.js';
import { makeTempDir } from './temp-root.js';

const BUSYBOX_BINARY = '/bin/busybox';
const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'nobody:x:65534:65534:nobody:/home:/bin/false',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  '',
].join('\n');
const GROUP = ['root:x:0:', 'nobody:x:65534:', 'app:x:1000:', ''].join('\n');

export interface Entry {
  header: Partial<Header> & { name: string };
  body?: Buffer;
}

function rootfsEntries(): Entry[] {
  if (!existsSync(BUSYBOX_BINARY)) throw new Error(`${BUSYBOX_BINARY} is missing: apt-get install busybox-static`);
  const dir = (name: string, mode = 0o755, uid = 0): Entry => ({
    header: { name, type: 'directory', mode, uid, gid: uid, mtime: FIXED_MTIME },
  });
  const file = (name: string, body: Buffer, mode = 0o644): Entry => ({
    header: { name, type: 'file', mode, uid: 0, gid: 0, size: body.length, mtime: FIXED_MTIME },
    body,
  });
  const applets = execFileSync(BUSYBOX_BINARY, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((name) => name && name !== 'busybox')
    .sort();
  return [
    dir('bin'),
    file('bin/busybox', readFileSync(BUSYBOX_BINARY), 0o755),
    ...applets.map((name): Entry => ({
      header: { name: `bin/${name}`, type: 'symlink', linkname: 'busybox', mode: 0o777, uid: 0, gid: 0, mtime: FIXED_MTIME },
    })),
    dir('dev'),
    dir('etc'),
    file('etc/group', Buffer.from(GROUP)),
    file('etc/passwd', Buffer.from(PASSWD)),
    dir('home'),
    dir('home/app', 0o755, 1000),
    dir('proc'),
    dir('root', 0o700),
    dir('sys'),
    dir('tmp', 0o1777),
    dir('usr'),
    dir('usr/bin'),
    dir('usr/sbin'),
    dir('var'),
  ];
}

async function packToBuffer(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  for (const entry of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry(entry.header, entry.body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  return done;
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Writes `busybox.tar` (docker-archive, tagged `tag`, `extra` entries after the rootfs) into `dir`; returns its path. */
export async function makeBusyboxArchive(dir: string, tag = 'busybox:latest', extra: Entry[] = []): Promise<string> {
  const layer = await packToBuffer([...rootfsEntries(), ...extra]);
  const diffId = sha256(layer);
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: FIXED_MTIME.toISOString(),
    config: { Env: [DEFAULT_PATH], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
    history: [{ created: FIXED_MTIME.toISOString(), created_by: 'busybox-static rootfs (test fixture)' }],
  });
  const configName = `${sha256(config)}.json`;
  const manifest = JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: [`${diffId}/layer.tar`] }]);
  const archive = await packToBuffer([
    { header: { name: `${diffId}/`, type: 'directory', mode: 0o755, mtime: FIXED_MTIME } },
    { header: { name: `${diffId}/layer.tar`, type: 'file', mode: 0o644, size: layer.length, mtime: FIXED_MTIME }, body: layer },
    { header: { name: configName, type: 'file', mode: 0o644, size: config.length, mtime: FIXED_MTIME }, body: Buffer.from(config) },
    { header: { name: 'manifest.json', type: 'file', mode: 0o644, size: manifest.length, mtime: FIXED_MTIME }, body: Buffer.from(manifest) },
  ]);
  const archivePath = path.join(dir, 'busybox.tar');
  await writeFile(archivePath, archive);
  return archivePath;
}

/** The fixture archive: scripts/make-busybox.sh's cached tar when the script exists, else our own. */
export async function busyboxArchive(scratchDir: string): Promise<string> {
  const script = path.join(repoRoot, 'scripts', 'make-busybox.sh');
  if (!existsSync(script)) return makeBusyboxArchive(scratchDir);
  const made = expectSuccess(await runCommand('bash', [script, '--tar-only']), 'make-busybox.sh --tar-only');
  return made.stdout.trim().split('\n').pop() ?? '';
}

/** Puts busybox:latest into the store at `root` through `builder load`, as a user would. */
export async function loadBusyboxFixture(root: string, scratchDir: string): Promise<void> {
  const archive = await busyboxArchive(scratchDir);
  expectSuccess(await runCli(['load', '-i', archive], { root }), 'builder load busybox');
}

/** A fresh temporary store (a BUILDER_ROOT) with busybox:latest loaded; remove it with removeTempDir. */
export async function makeFixtureRoot(prefix: string, scratchDir: string): Promise<string> {
  const root = await makeTempDir(prefix);
  await loadBusyboxFixture(root, scratchDir);
  return root;
}
