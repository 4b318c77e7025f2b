import { createHash } from 'node:crypto';
import type { Step } from '../builder/dockerfile/types.js';

/** A step's cache key: `sha256:<hex>` over a canonical, versioned encoding of everything that decides its result. */
export type CacheKey = string;

/** Bump when the meaning of a key changes, so old records simply stop matching. */
// v2: history created_by is worded as BuildKit's (records made by v1 carry the old wording in their config).
const KEY_VERSION = 'builder.step.v2';

export interface CacheKeyInput {
  /** Key of the previous step (or of the stage base: the base image's manifest digest, or `scratch`). */
  parent: CacheKey;
  step: Step;
  /** Digest of the step's inputs from outside the image (COPY/ADD sources, a stage it copies from). */
  inputsDigest?: string;
}

/** The preimage is kept beside a cache record so a later miss can say what changed. */
export interface CacheKeyPreimage {
  version: string;
  parent: CacheKey;
  step: Record<string, unknown>;
  inputsDigest: string | null;
}

export function cacheKeyPreimage(input: CacheKeyInput): CacheKeyPreimage {
  return { version: KEY_VERSION, parent: input.parent, step: semanticStep(input.step), inputsDigest: input.inputsDigest ?? null };
}

export function cacheKey(input: CacheKeyInput): CacheKey {
  return digestOf(canonicalJson(cacheKeyPreimage(input)));
}

export function digestOf(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The step without where it was written: moving an instruction to another line must not miss the cache. */
function semanticStep(step: Step): Record<string, unknown> {
  const { line: _line, endLine: _endLine, source: _source, ...rest } = step;
  return rest as Record<string, unknown>;
}

/** JSON with object keys sorted at every level, so equal values always encode to equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value as object).sort()) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) sorted[key] = sortKeys(item);
    }
    return sorted;
  }
  return value;
}
