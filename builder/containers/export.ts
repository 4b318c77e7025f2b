/**
 * `docker export` (GET /containers/{id}/export): the container's whole filesystem as one flat tar, as dockerd
 * writes it (entries relative to /, no leading "./", numeric owners). GNU tar writes it from the container's
 * merged overlay (remounted when the container is stopped): it keeps hardlinks, devices, fifos and xattrs and
 * never follows a link, which a walk of our own would have to re-learn. The tar goes to the caller as it is made.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { BuildError } from '../errors.js';
import { remountSnapshot } from '../snapshot/mount.js';
import type { ContainerRecord } from './record.js';

export async function exportContainer(record: ContainerRecord): Promise<Readable> {
  const merged = await remountSnapshot(record.rootfsDir);
  const entries = (await readdir(merged)).sort();
  const out = new PassThrough();
  const child = spawn('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', merged, '-cf', '-', '--', ...entries], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  child.stdout.pipe(out, { end: false });
  child.on('error', (err) => out.destroy(new BuildError('INTERNAL', `exporting container ${record.name}: cannot run tar: ${err.message}`)));
  child.on('close', (code) => {
    // 1 = "some files differed" (a file changed while read: a running container); the archive is still whole.
    if (code === 0 || code === 1) out.end();
    else out.destroy(new BuildError('INTERNAL', `exporting container ${record.name} failed: ${stderr.trim().slice(0, 200)}`));
  });
  // A client that goes away stops tar instead of leaving it blocked on a full pipe.
  out.on('close', () => { if (child.exitCode === null) child.kill('SIGTERM'); });
  return out;
}
