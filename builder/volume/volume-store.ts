/**
 * Local volumes: $BUILDER_ROOT/volumes/<name>/_data plus <name>/volume.json (labels, created, anonymous,
 * the containers using it). Every change to a record happens under the one volumes lock, so "in use"
 * checks and removals never race with a container registering itself.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { withFileLock } from '../store/file-lock.js';
import { validateVolumeName } from './parse-mount.js';

export interface VolumeRecord {
  name: string;
  labels: Record<string, string>;
  created: string;
  /** Made for a VOLUME path or a `-v /path`: removed by `rm -v`, `--rm` and a plain `volume prune`. */
  anonymous: boolean;
  /** Container ids that have it mounted (registered by VolumeManager.prepare). */
  users: string[];
}

export function volumesDir(root: string): string {
  return path.join(root, 'volumes');
}

export function volumeDataDir(root: string, name: string): string {
  return path.join(volumesDir(root), name, '_data');
}

function recordPath(root: string, name: string): string {
  return path.join(volumesDir(root), name, 'volume.json');
}

/** Runs `fn` holding the volumes lock. */
export async function withVolumesLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(volumesDir(root), { recursive: true });
  return withFileLock(path.join(volumesDir(root), '.lock'), fn);
}

export async function readVolume(root: string, name: string): Promise<VolumeRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordPath(root, name), 'utf8')) as VolumeRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BuildError('STORE_CORRUPT', `volume record ${recordPath(root, name)} is unreadable: ${(err as Error).message}`);
  }
}

export async function getVolume(root: string, name: string): Promise<VolumeRecord> {
  const record = VOLUME_LOOKUP.test(name) ? await readVolume(root, name) : undefined;
  if (!record) throw new BuildError('VOLUME_NOT_FOUND', `get ${name}: no such volume`);
  return record;
}
const VOLUME_LOOKUP = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export async function writeVolume(root: string, record: VolumeRecord): Promise<void> {
  await writeFileAtomic(recordPath(root, record.name), `${JSON.stringify(record, null, 2)}\n`);
}

export async function listVolumeRecords(root: string): Promise<VolumeRecord[]> {
  const names = (await readdir(volumesDir(root)).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
  const records = await Promise.all(names.map((name) => readVolume(root, name)));
  return records.filter((r): r is VolumeRecord => r !== undefined).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Creates the volume if missing (call under the lock); an existing one is returned as it is, as docker does.
 * The record is written last, after _data exists, so a crash never leaves a record without its data dir.
 */
export async function createVolumeLocked(root: string, options: { name?: string; labels?: Record<string, string>; anonymous?: boolean }): Promise<{ record: VolumeRecord; created: boolean }> {
  const anonymous = options.anonymous ?? options.name === undefined;
  const name = options.name ?? randomBytes(32).toString('hex');
  validateVolumeName(name);
  const existing = await readVolume(root, name);
  if (existing) return { record: existing, created: false };
  const dir = path.join(volumesDir(root), name);
  await mkdir(path.join(dir, '_data'), { recursive: true, mode: 0o755 });
  const record: VolumeRecord = { name, labels: options.labels ?? {}, created: new Date().toISOString(), anonymous, users: [] };
  await writeVolume(root, record);
  return { record, created: true };
}

/** Deletes a volume's record first (so it is gone for everyone), then its data, renamed aside so a crash leaves no half-volume. */
export async function deleteVolumeLocked(root: string, name: string): Promise<void> {
  const dir = path.join(volumesDir(root), name);
  const trash = path.join(volumesDir(root), `.removing-${name}-${randomBytes(4).toString('hex')}`);
  await rename(dir, trash).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rm(trash, { recursive: true, force: true });
}

/** docker's "in use" error: `remove NAME: volume is in use - [ids]`. */
export function inUseError(record: VolumeRecord): BuildError {
  return new BuildError('CONFLICT', `remove ${record.name}: volume is in use - [${record.users.join(', ')}]`);
}
