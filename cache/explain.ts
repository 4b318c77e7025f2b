import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { canonicalJson, digestOf, type CacheKeyPreimage } from './key.js';
import { writeFileAtomic } from '../builder/store/atomic-write.js';

/**
 * What a step looked like the last time it ran at this place in this Dockerfile: its key preimage and,
 * for COPY/ADD, one record per source file. Kept so a later miss can say what changed (BuildKit #2274).
 */
export interface StepTrace {
  key: string;
  preimage: CacheKeyPreimage;
  /** Source path → canonical record (type, mode, owner, content digest); COPY/ADD only. */
  files?: Record<string, string>;
  /** The stage's base: its key (an image's manifest digest, or a stage's last key) and how the Dockerfile names it. */
  base: { key: string; ref: string };
}

/** Where a step sits: the same place in the same Dockerfile of the same project, across builds. */
export function stepIdentity(scope: string, dockerfile: string, stage: string, position: number): string {
  return digestOf(canonicalJson([scope, dockerfile, stage, position]));
}

/** Traces as small JSON files under `<store>/cache/traces/`, written atomically. */
export class TraceStore {
  constructor(private readonly dir: string) {}

  private file(identity: string): string {
    return path.join(this.dir, `${identity.replace(/^sha256:/, '')}.json`);
  }

  /** Read directly: it sits between a step's cache miss and its start (four thread-pool round trips otherwise). */
  async get(identity: string): Promise<StepTrace | undefined> {
    try {
      return JSON.parse(readFileSync(this.file(identity), 'utf8')) as StepTrace;
    } catch {
      return undefined;
    }
  }

  async put(identity: string, trace: StepTrace): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.file(identity);
    await writeFileAtomic(file, JSON.stringify(trace), { sync: false });
  }
}

const MAX_LISTED = 3;

/** One line for a person: why this step could not use the cache. */
export function explainMiss(previous: StepTrace | undefined, current: StepTrace, lastMissed?: string): string {
  if (!previous) return 'no earlier build of this step';
  const before = previous.preimage;
  const now = current.preimage;
  if (before.version !== now.version) return 'the cache format changed';
  if (canonicalJson(before.step) !== canonicalJson(now.step)) return stepChange(before.step, now.step);
  if (before.inputsDigest !== now.inputsDigest) return inputChange(previous.files, current.files);
  if (before.parent !== now.parent) {
    if (previous.base.key !== current.base.key) return `base ${current.base.ref} changed (${short(previous.base.key)} → ${short(current.base.key)})`;
    return lastMissed ? `an earlier step changed: ${lastMissed}` : 'an earlier step changed';
  }
  return 'the cache record was removed (pruned, or its layer was missing)';
}

function stepChange(before: Record<string, unknown>, now: Record<string, unknown>): string {
  // A RUN's build args live in buildArgs (what it sees) and historyArgs (what its history line shows).
  const changed = new Set<string>();
  for (const field of ['buildArgs', 'historyArgs']) {
    const argsBefore = new Map((before[field] as [string, string][] | undefined) ?? []);
    const argsNow = new Map((now[field] as [string, string][] | undefined) ?? []);
    for (const name of new Set([...argsBefore.keys(), ...argsNow.keys()])) if (argsBefore.get(name) !== argsNow.get(name)) changed.add(name);
  }
  const { buildArgs: _a, historyArgs: _c, ...restBefore } = before;
  const { buildArgs: _b, historyArgs: _d, ...restNow } = now;
  if (canonicalJson(restBefore) === canonicalJson(restNow) && changed.size > 0) {
    return `build arg ${list([...changed].sort())} changed`;
  }
  return 'the instruction changed';
}

function inputChange(before: Record<string, string> | undefined, now: Record<string, string> | undefined): string {
  if (!before || !now) return 'the source files changed';
  const changes: string[] = [];
  for (const [file, record] of Object.entries(now)) {
    const old = before[file];
    if (old === undefined) changes.push(`${file} added`);
    else if (old !== record) changes.push(`${file} ${recordChange(old, record)} changed`);
  }
  for (const file of Object.keys(before)) if (!(file in now)) changes.push(`${file} removed`);
  if (changes.length === 0) return 'the copy options changed';
  return changes.length > MAX_LISTED ? `${changes.slice(0, MAX_LISTED).join(', ')} and ${changes.length - MAX_LISTED} more` : changes.join(', ');
}

/** Records are JSON arrays `[uid, gid, type, mode, content or link target]`. */
function recordChange(old: string, now: string): string {
  const [a, b] = [JSON.parse(old) as unknown[], JSON.parse(now) as unknown[]];
  if (a[2] !== b[2]) return 'type';
  if (a[4] !== b[4]) return a[2] === 'symlink' ? 'link target' : 'content';
  if (a[3] !== b[3]) return 'mode';
  return 'owner';
}

function list(names: string[]): string {
  return names.length <= MAX_LISTED ? names.join(', ') : `${names.slice(0, MAX_LISTED).join(', ')} and ${names.length - MAX_LISTED} more`;
}

function short(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
