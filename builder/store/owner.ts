/**
 * Owner files: a directory a process creates for its own short-lived use (a runc bundle, an overlay mount dir)
 * holds `owner.json` with that process's pid and start time. A later build or prune (store/reap.ts) removes what
 * a dead owner left; the start time tells a reused pid from the original process, which a bare pid cannot.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from './file-lock.js';

export const OWNER_FILE = 'owner.json';

export interface Owner {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); absent where /proc is not readable. */
  start?: string;
}

/** The start time of `pid`, or undefined when /proc does not tell. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let self: Owner | undefined;

export function currentOwner(): Owner {
  self ??= { pid: process.pid, start: processStart(process.pid) };
  return self;
}

/**
 * Makes `<parent>/<prefix>-<pid>-<hex>` and writes its owner file. The pid in the name covers the moment between
 * mkdir and the owner file (a kill there leaves an empty dir that GC's dead-pid rule removes).
 */
export async function makeOwnedDir(parent: string, prefix: string): Promise<string> {
  const dir = join(parent, `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(dir);
  await writeOwner(dir);
  return dir;
}

/** makeOwnedDir with sync calls, for a caller that makes many small directories on a step's path (mount dirs). */
export function makeOwnedDirSync(parent: string, prefix: string): string {
  const dir = join(parent, `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir);
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify(currentOwner()));
  return dir;
}

/** The pid in a `<prefix>-<pid>-<hex>` name, if any. */
export function pidInName(name: string): number | undefined {
  const match = /^[a-z-]+?-(\d+)-[0-9a-f]+$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

export async function writeOwner(dir: string): Promise<void> {
  await writeFile(join(dir, OWNER_FILE), JSON.stringify(currentOwner()));
}

/** The owner recorded in `dir`; undefined when there is none (then the directory is never reaped). */
export async function readOwner(dir: string): Promise<Owner | undefined> {
  const text = await readFile(join(dir, OWNER_FILE), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseOwner(text);
}

/**
 * readOwner with a direct read: every build looks at each bundle and mount dir this way before it starts, and a
 * 100-byte read costs microseconds where a thread-pool round trip costs 0.1–0.5 ms on a loaded machine.
 */
export function readOwnerSync(dir: string): Owner | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, OWNER_FILE), 'utf8');
  } catch {
    return undefined;
  }
  return parseOwner(text);
}

function parseOwner(text: string): Owner | undefined {
  try {
    const parsed = JSON.parse(text) as Partial<Owner>;
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0) return undefined;
    return { pid: parsed.pid, start: typeof parsed.start === 'string' ? parsed.start : undefined };
  } catch {
    return undefined;
  }
}

export function isOwnerAlive(owner: Owner): boolean {
  if (owner.pid === process.pid) return true;
  if (!isProcessAlive(owner.pid)) return false;
  if (owner.start === undefined) return true;
  const start = processStart(owner.pid);
  return start === undefined || start === owner.start;
}
