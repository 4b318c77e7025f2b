/** Extracted layers on disk: `snapshots/<diffId hex>/`, each created once and atomically, shared by every mount. */
import { spawn } from 'node:child_process';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError, errorMessage } from '../errors.js';
import type { Layer } from '../image/types.js';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

function hexOf(diffId: string): string {
  const match = DIGEST.exec(diffId);
  if (!match) throw new BuildError('INVALID_ARGUMENT', `"${diffId}" is not a sha256 diffId`);
  return match[1]!;
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException)?.code ?? '');
}

function copyTree(from: string, to: string): Promise<void> {
  return new Promise((done, fail) => {
    // cp -a keeps owners, modes, xattrs (overlay whiteout/opaque markers included), hardlinks and device nodes.
    const child = spawn('cp', ['-a', '--reflink=auto', from, to], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done() : fail(new BuildError('INTERNAL', `copying ${from} to ${to} failed: ${stderr}`))));
  });
}

/**
 * The snapshot directory. `tmpDir` must be on the same filesystem as `snapshotsDir` (renames are the commit).
 * `blobPath` maps a layer digest to its blob file in the store.
 */
export class Snapshots {
  private readonly inProgress = new Map<string, Promise<string>>();

  constructor(
    private readonly snapshotsDir: string,
    private readonly tmpDir: string,
    private readonly blobPath: (digest: string) => string,
    /** Brings a layer's blob into the store when a cache hit named a layer that lives only in a registry. */
    private readonly fetchBlob?: (layer: Layer) => Promise<void>,
  ) {}

  path(diffId: string): string {
    return join(this.snapshotsDir, hexOf(diffId));
  }

  async has(diffId: string): Promise<boolean> {
    return (await stat(this.path(diffId)).catch(() => undefined))?.isDirectory() ?? false;
  }

  /** has(), synchronously: one stat, for the steps' critical path (see ensure). */
  hasSync(diffId: string): boolean {
    try {
      return statSync(this.path(diffId), { throwIfNoEntry: false })?.isDirectory() ?? false;
    } catch {
      return false; // as has(): anything but a directory there is extracted (and then fails) the slow way
    }
  }

  /** Brings the layer's blob into the store when only a registry has it (a remote cache hit); no-op otherwise. */
  async ensureBlob(layer: Layer): Promise<void> {
    const present = (await stat(this.blobPath(layer.digest)).catch(() => undefined))?.isFile() ?? false;
    if (!present && this.fetchBlob) await this.fetchBlob(layer);
  }

  /** Extracted dir for a layer; extracts (and verifies the diffId of) the blob the first time. */
  ensure(layer: Layer): Promise<string> {
    const existing = this.inProgress.get(layer.diffId);
    if (existing) return existing;
    // The common case, a snapshot on disk, is one stat: made here, synchronously (~5 µs), it cannot queue on the
    // thread pool behind the background work of earlier steps (blob writes, mount dir removal), which made a warm
    // step's `lowerdirs` 3-11 ms in traces of the edit rebuild.
    if (this.hasSync(layer.diffId)) return Promise.resolve(this.path(layer.diffId));
    const work = this.extract(layer).finally(() => this.inProgress.delete(layer.diffId));
    this.inProgress.set(layer.diffId, work);
    return work;
  }

  private async extract(layer: Layer): Promise<string> {
    const finalPath = this.path(layer.diffId);
    if (await this.has(layer.diffId)) return finalPath;
    const blob = this.blobPath(layer.digest);
    const present = async (): Promise<boolean> => (await stat(blob).catch(() => undefined))?.isFile() ?? false;
    if (!(await present()) && this.fetchBlob) await this.fetchBlob(layer);
    if (!(await present())) {
      throw new BuildError('STORE_CORRUPT', `layer ${layer.digest} is missing from the store (${blob}); pull the image again`);
    }
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(this.snapshotsDir, { recursive: true });
    const temp = await mkdtemp(join(this.tmpDir, 'extract-'));
    try {
      // Imported on first use: a warm store rarely extracts anything.
      const { extractLayer } = await import('../layer/extract.js');
      const { diffId } = await extractLayer(blob, temp);
      if (diffId !== layer.diffId) {
        throw new BuildError('LAYER_INVALID', `layer ${layer.digest} unpacks to ${diffId}, but the image says its diffId is ${layer.diffId}`);
      }
      return await this.commit(temp, finalPath);
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  /** rename into place; if another process got there first, its copy wins and ours is dropped. */
  private async commit(dir: string, finalPath: string): Promise<string> {
    try {
      await rename(dir, finalPath);
    } catch (err) {
      if (!isCode(err, 'ENOTEMPTY', 'EEXIST')) throw err;
      await rm(dir, { recursive: true, force: true });
    }
    return finalPath;
  }

  /** Makes an already-written (and unmounted) upperdir the snapshot of `diffId`. Returns the snapshot path. */
  async adopt(diffId: string, upperdir: string): Promise<string> {
    const finalPath = this.path(diffId);
    // A step's commit waits for this: mkdir, stat and rename are one syscall each, made synchronously (see ensure).
    mkdirSync(this.snapshotsDir, { recursive: true });
    if (this.hasSync(diffId)) {
      await rm(upperdir, { recursive: true, force: true });
      return finalPath;
    }
    try {
      renameSync(upperdir, finalPath);
      return finalPath;
    } catch (err) {
      if (isCode(err, 'ENOTEMPTY', 'EEXIST')) {
        // Another process adopted or extracted the same diffId first: its copy wins, as in commit().
        await rm(upperdir, { recursive: true, force: true });
        return finalPath;
      }
      if (!isCode(err, 'EXDEV')) throw new BuildError('INTERNAL', `adopting ${upperdir} as a snapshot failed: ${errorMessage(err)}`, { cause: err });
    }
    // Different filesystem: copy next to the snapshots, then rename.
    await mkdir(this.tmpDir, { recursive: true });
    const temp = await mkdtemp(join(this.tmpDir, 'adopt-'));
    try {
      await copyTree(upperdir, join(temp, 'dir'));
      await this.commit(join(temp, 'dir'), finalPath);
      await rm(upperdir, { recursive: true, force: true });
      return finalPath;
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }
}
