/**
 * HEADs a build that will push sends as soon as it knows a layer of its image (a cache hit names it, or the final
 * stage's base lists it), instead of when the push starts. The push (push.ts) then takes those answers for its
 * layers and HEADs only what it did not know early: the image's config, whose digest exists only once the steps end.
 *
 * Why: traced in the shared-cache bench (docs/ARCHITECTURE.md, shared cache, fourth pass), the push was the longest
 * path of a fresh worker's fully cached build, and its five HEADs, sent at once after the steps, took 5–7 ms each
 * on the loaded registry. A fresh worker's steps wait on Redis (its first lookup ~1 ms where a local record takes
 * 0.08), so its layers are known several ms before the push: their HEADs run beside the steps and the image write.
 * A warm rebuild takes the same path; its steps end sooner, so it gains less.
 *
 * An early answer is only as old as the build: it is the HEAD the push would have sent, sent sooner. A layer gone
 * between it and the manifest PUT is the same race the push always had (the PUT says MANIFEST_BLOB_UNKNOWN, and the
 * push's second pass HEADs, mounts or uploads again, without early answers).
 */
import { loadConfig, type BuilderConfig } from '../config.js';
import { parseReference } from '../image/reference.js';
import { Authorizer, type CredentialSource } from './auth.js';
import { RegistryClient } from './client.js';
import { registryEndpoint } from './endpoints.js';

type Answer = { ok: true; size: number | undefined } | { ok: false };

/** Early HEADs of one push destination (`host/repo:tag`), by blob digest; each digest is asked once. */
export class EarlyHeads {
  private readonly answers = new Map<string, Promise<Answer>>();
  private readonly client: Promise<RegistryClient | undefined>;

  constructor(readonly destination: string, config?: BuilderConfig, credentials?: CredentialSource, signal?: AbortSignal) {
    // The same endpoint, credentials and scope the push uses: its answers are the ones the push would get.
    this.client = (async () => {
      const target = parseReference(destination);
      const endpoint = registryEndpoint(target.registry, config ?? (await loadConfig()));
      return new RegistryClient(endpoint, target.repository, new Authorizer(credentials), 'pull,push', signal);
    })().catch(() => undefined);
  }

  /** Starts the HEAD of `digest` in the destination repository (once); never throws, never rejects unobserved. */
  start(digest: string): void {
    if (this.answers.has(digest)) return;
    this.answers.set(digest, this.client.then(async (client): Promise<Answer> => {
      if (!client) return { ok: false };
      return { ok: true, size: await client.headBlob(digest, `checking whether ${digest} exists in ${client.name}`) };
    }).catch((): Answer => ({ ok: false })));
  }

  /**
   * The early answer for `digest` pushed to `destination`, as a HEAD for uploadBlob: what the early HEAD found, or
   * (when it failed: a token, a dropped connection) `fallback`, the push's own HEAD. Undefined when none was started.
   */
  take(destination: string, digest: string, fallback: () => Promise<number | undefined>): (() => Promise<number | undefined>) | undefined {
    const answer = destination === this.destination ? this.answers.get(digest) : undefined;
    if (!answer) return undefined;
    return async () => {
      const got = await answer;
      return got.ok ? got.size : fallback();
    };
  }

  /** How many digests were asked early (tests and traces). */
  get size(): number { return this.answers.size; }
}
