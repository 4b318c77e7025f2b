/**
 * What every hostile case checks after it was refused: no secret in any output, nothing written outside, no
 * mount or runc container left behind. Test code.
 */
import { strict as assert } from 'node:assert';
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** A unique string that must never appear in what a build prints. */
export function secretMarker(): string {
  return `SECRET${randomUUID().replaceAll('-', '')}`;
}

export function assertNoSecret(texts: readonly string[], secrets: readonly string[]): void {
  for (const secret of secrets) {
    for (const text of texts) assert.ok(!text.includes(secret), `a secret leaked into the output:\n${text.slice(0, 2000)}`);
  }
}

/** A fingerprint of a directory tree (names, types, link targets, contents): equal before and after = nothing written. */
export function treeFingerprint(dir: string): string {
  const hash = createHash('sha256');
  const walk = (rel: string): void => {
    const abs = path.join(dir, rel);
    const info = lstatSync(abs);
    hash.update(`${rel}\0${info.mode}\0`);
    if (info.isSymbolicLink()) hash.update(readlinkSync(abs));
    else if (info.isFile()) hash.update(readFileSync(abs));
    else if (info.isDirectory()) for (const name of readdirSync(abs).sort()) walk(path.join(rel, name));
  };
  walk('.');
  return hash.digest('hex');
}

/** Mount points at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

export function assertNothingMounted(dir: string): void {
  assert.deepEqual(mountsUnder(dir), [], `mounts left under ${dir}`);
}
