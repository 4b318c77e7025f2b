/**
 * Farm-wide push facts in the shared index: "the manifest that ends with step K was pushed to repository P".
 *
 * `held:<key>` is a Redis hash, field `authority/repository`, value the manifest digest a push of it completed
 * with (every blob of a manifest is in the repository once the registry accepted the manifest PUT). The read-ahead
 * walk returns each record's hash with it (cache/shared-prefetch.ts), so a fresh worker learns what the farm pushed
 * in the round trip its first lookup already makes; a push of the same manifest to the same repository then PUTs
 * the manifest without asking for its blobs, as a warm worker does from its own blob-sources.json
 * (builder/registry/push.ts). A fact is a hint: a blob gone since is caught by the manifest PUT's
 * MANIFEST_BLOB_UNKNOWN, and the push then asks for every blob as it would have.
 *
 * Bounded by a TTL (refreshed at each push) and by the index's LRU (evicting a record drops its facts).
 */
import type { Redis } from 'ioredis';

/** Facts live this long after the last push that wrote them. */
export const HELD_TTL_S = 7 * 24 * 3600;
/** A repository list per key stays small: a key's image is pushed to a few repositories, not hundreds. */
const MAX_REPOSITORIES = 16;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** `authority/repository` → manifest digest. */
export type HeldIn = Readonly<Record<string, string>>;

/**
 * The facts of one walked record ('' when none). Undefined and `corrupt` when the hash holds something that is not
 * repository → digest: the caller warns once and treats it as unknown.
 */
export function parseHeld(text: string): { held?: HeldIn; corrupt?: true } {
  if (text === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { corrupt: true };
    const held: Record<string, string> = {};
    for (const [repository, digest] of Object.entries(parsed)) {
      if (typeof digest !== 'string' || !DIGEST.test(digest) || !repository.includes('/')) return { corrupt: true };
      held[repository] = digest;
    }
    return { held };
  } catch {
    return { corrupt: true };
  }
}

/** Writes the fact that `repository` (`authority/repository`) holds `manifestDigest`, whose image ends with step `key`. */
export async function recordHeld(redis: Redis, prefix: string, key: string, repository: string, manifestDigest: string): Promise<void> {
  const hash = `${prefix}held:${key}`;
  const results = await redis.multi().hset(hash, repository, manifestDigest).expire(hash, HELD_TTL_S).hlen(hash).exec();
  const count = Number(results?.[2]?.[1] ?? 0);
  // Beyond the bound the whole list goes (rare; the next push of each repository writes its fact again).
  if (count > MAX_REPOSITORIES) await redis.multi().del(hash).hset(hash, repository, manifestDigest).expire(hash, HELD_TTL_S).exec();
}
