/**
 * Which repositories of which registries are known to hold a blob (docker's v2 metadata, in small):
 * a push then mounts from them instead of uploading. Only a hint: losing an entry costs an upload.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

const MAX_SOURCES_PER_BLOB = 8;

type SourceTable = Record<string, string[]>;
/** The last queued write of each blob-sources.json (by path): the next one waits for it. Entries leave when idle. */
const writes = new Map<string, Promise<void>>();

/** Blob sources stored beside the store's other data, in `<root>/registry/blob-sources.json`. */
export class BlobSources {
  private readonly file: string;

  constructor(storeRoot: string) {
    this.file = path.join(storeRoot, 'registry', 'blob-sources.json');
  }

  private async read(): Promise<SourceTable> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.file, 'utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as SourceTable) : {};
    } catch {
      return {};
    }
  }

  /** The whole table: digest → `authority/repository` sources, most recent first (one read for a push's blobs). */
  async all(): Promise<Readonly<SourceTable>> {
    return this.read();
  }

  /** Repositories on `authority` that hold `digest`. */
  async repositoriesWith(digest: string, authority: string): Promise<string[]> {
    const prefix = `${authority}/`;
    return ((await this.read())[digest] ?? []).filter((source) => source.startsWith(prefix)).map((source) => source.slice(prefix.length));
  }

  /** Every `authority/repository` known to hold `digest`, most recent first. */
  async sourcesOf(digest: string): Promise<string[]> {
    return (await this.read())[digest] ?? [];
  }

  /**
   * Records that `authority/repository` holds each of `digests`. Read-modify-writes of one file run one at a time in
   * this process: a fresh worker's build records its lazily cached layers' sources while its push records the
   * target's, at the same moment, and the second rename dropped the first's entries (7 of 10 fresh builds traced).
   */
  record(digests: string[], authority: string, repository: string): Promise<void> {
    const mine = (writes.get(this.file) ?? Promise.resolve()).then(() => this.write(digests, authority, repository));
    const tail = mine.catch(() => undefined);
    writes.set(this.file, tail);
    void tail.then(() => { if (writes.get(this.file) === tail) writes.delete(this.file); });
    return mine;
  }

  private async write(digests: string[], authority: string, repository: string): Promise<void> {
    const table = await this.read();
    const source = `${authority}/${repository}`;
    for (const digest of digests) {
      const known = (table[digest] ?? []).filter((s) => s !== source);
      table[digest] = [source, ...known].slice(0, MAX_SOURCES_PER_BLOB);
    }
    await mkdir(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(temp, JSON.stringify(table));
    await rename(temp, this.file);
  }
}

/**
 * Lazily cached layers of a build (digest → the `authority/repository` holding it): remembered, so a later push
 * mounts them and a later `run` or export fetches them. A hint like the rest of the table: never fails a build.
 */
export async function recordRemoteLayers(storeRoot: string, remote: ReadonlyMap<string, { source: string }>): Promise<void> {
  if (remote.size === 0) return;
  const bySource = new Map<string, string[]>();
  for (const [digest, { source }] of remote) bySource.set(source, [...(bySource.get(source) ?? []), digest]);
  const sources = new BlobSources(storeRoot);
  for (const [source, digests] of bySource) {
    const slash = source.indexOf('/');
    if (slash <= 0) continue;
    await sources.record(digests, source.slice(0, slash), source.slice(slash + 1)).catch(() => undefined);
  }
}
