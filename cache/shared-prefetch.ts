/**
 * Read-ahead of the shared index: a build's steps are looked up one after another (each key needs the one before),
 * so a fresh worker's fully cached build would pay one Redis round trip per step. Each record remembers the keys
 * that were built on top of it (`next:<key>`, a sorted set of the most recent children, at most 16); when a lookup
 * is read from Redis, the same script call walks its children breadth-first on the server and returns up to 32
 * descendant records with it, so the rest of the build reads them from memory.
 *
 * With each record comes its `held:<key>` hash (cache/shared-held.ts: which repositories a manifest ending in that
 * step was pushed to), so a fresh worker's push learns what the farm pushed in the same round trip.
 *
 * What it returns is only a hint of what the index held a moment ago: entries older than 2 s are ignored, a
 * forgotten record is dropped from it, and every hit is checked (blob HEAD) as a direct read would be. The script
 * names keys it was not given, which standalone Redis allows (not Redis Cluster).
 */
import type { Redis } from 'ioredis';
import type { CacheKey } from './key.js';

const WALK = `
local prefix, limit = ARGV[1], tonumber(ARGV[3])
local out, queue, head, n = {}, {ARGV[2]}, 1, 0
local function held(key)
  local flat = redis.call('hgetall', prefix .. 'held:' .. key)
  if #flat == 0 then return '' end
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  return cjson.encode(fields)
end
if ARGV[4] == '1' then
  local own = redis.call('get', prefix .. 'rec:' .. ARGV[2])
  if not own then return out end
  out[1] = ARGV[2]
  out[2] = own
  out[3] = held(ARGV[2])
end
while head <= #queue and n < limit do
  local kids = redis.call('zrevrange', prefix .. 'next:' .. queue[head], 0, 3)
  head = head + 1
  for _, child in ipairs(kids) do
    if n >= limit then break end
    local record = redis.call('get', prefix .. 'rec:' .. child)
    if record then
      n = n + 1
      out[#out + 1] = child
      out[#out + 1] = record
      out[#out + 1] = held(child)
      queue[#queue + 1] = child
    end
  end
end
return out`;

/** Children remembered per record: the most recent ones, enough for the branches a project really has. */
export const NEXT_KEPT = 16;
const LIMIT = 32;
const FRESH_MS = 2000;

/** A record's JSON and its `held:` facts (JSON of repository → manifest digest, or '' when none). */
export interface WalkedRecord {
  record: string;
  held: string;
}

interface Walk {
  at: number;
  records: Promise<Map<CacheKey, WalkedRecord>>;
}

export class RecordPrefetch {
  private last?: Walk;

  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  /**
   * Reads the record of `key` and, when there is one, what was built on top of it, in one round trip: the first
   * lookup of a build costs what a GET did, and the next steps' records arrive with it. Null: no record. A Redis
   * failure rejects (the caller marks the backend down).
   */
  async read(key: CacheKey): Promise<WalkedRecord | null> {
    const walked = (this.redis.eval(WALK, 0, this.prefix, key, String(LIMIT), '1') as Promise<string[]>).then((flat) => {
      const map = new Map<CacheKey, WalkedRecord>();
      for (let i = 0; i + 2 < flat.length; i += 3) map.set(flat[i]!, { record: flat[i + 1]!, held: flat[i + 2]! });
      return map;
    });
    const at = Date.now();
    const records = await walked;
    const own = records.get(key);
    if (own === undefined) return null;
    records.delete(key);
    this.last = { at, records: Promise.resolve(records) };
    return own;
  }

  /**
   * The record of `key` if the latest walk has it (waiting for a walk still in flight: it left before this lookup
   * would have). Undefined means "ask Redis".
   */
  async take(key: CacheKey): Promise<WalkedRecord | undefined> {
    const walk = this.last;
    if (!walk || Date.now() - walk.at > FRESH_MS) return undefined;
    const records = await walk.records;
    const text = records.get(key);
    records.delete(key);
    return text;
  }

  /** A record found broken or evicted must not come back from a walk. */
  drop(key: CacheKey): void {
    void this.last?.records.then((records) => records.delete(key));
  }
}
