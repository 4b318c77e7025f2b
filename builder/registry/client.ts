/**
 * The distribution API for one repository at one endpoint: manifests, blob existence, downloads,
 * cross-repository mounts and upload sessions. Uploading a whole blob lives in blob-upload.ts.
 */
import { BuildError } from '../errors.js';
import { MEDIA_TYPES } from '../image/types.js';
import type { Authorizer } from './auth.js';
import type { Endpoint } from './endpoints.js';
import { send, type RegistryRequest, type RegistryResponse, type RequestContext } from './http.js';

/** Every manifest type we can read; schema1 is not among them. */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.dockerManifest].join(', ');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A manifest as the registry sent it: the exact bytes, so its digest is kept. */
export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  /** Docker-Content-Digest, when the registry sent one. */
  digestHeader?: string;
}

export class RegistryClient {
  readonly context: RequestContext;
  /** `host/repo` as users read it, for messages. */
  readonly name: string;

  constructor(readonly endpoint: Endpoint, readonly repository: string, auth: Authorizer, actions: 'pull' | 'pull,push', signal?: AbortSignal) {
    this.context = { authority: endpoint.authority, auth, scopes: [`repository:${repository}:${actions}`], signal };
    this.name = `${endpoint.authority}/${repository}`;
  }

  url(path: string): string {
    return `${this.endpoint.baseUrl}/v2/${this.repository}/${path}`;
  }

  /** Resolves a Location header against the endpoint (registries may answer with a relative one). */
  resolveLocation(location: string | null, what: string): string {
    if (!location) throw new BuildError('REGISTRY_UNAVAILABLE', `${what}: the registry sent no Location header`);
    return new URL(location, `${this.endpoint.baseUrl}/`).toString();
  }

  send<T>(request: RegistryRequest, handle: (response: RegistryResponse) => Promise<T>): Promise<T> {
    return send(this.context, request, handle);
  }

  /** GETs a manifest by tag or digest. */
  async getManifest(reference: string, what: string): Promise<FetchedManifest> {
    return this.send({ method: 'GET', url: this.url(`manifests/${reference}`), headers: { accept: MANIFEST_ACCEPT }, what }, async (response) => {
      const declared = Number(response.headers.get('content-length') ?? '0');
      if (declared > MAX_MANIFEST_BYTES) {
        await response.body?.cancel();
        throw new BuildError('LAYER_INVALID', `${what}: the manifest is ${declared} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`);
      }
      const bytes = Buffer.from(await response.arrayBuffer());
      if (bytes.length > MAX_MANIFEST_BYTES) throw new BuildError('LAYER_INVALID', `${what}: the manifest is larger than ${MAX_MANIFEST_BYTES} bytes`);
      const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
      const digestHeader = response.headers.get('docker-content-digest') ?? undefined;
      return { bytes, mediaType, ...(digestHeader ? { digestHeader } : {}) };
    });
  }

  /** The blob's size when the repository has it, else undefined. */
  async headBlob(digest: string, what: string): Promise<number | undefined> {
    return this.send({ method: 'HEAD', url: this.url(`blobs/${digest}`), what, accept: [404] }, async (response) => {
      await response.body?.cancel();
      return response.status === 404 ? undefined : Number(response.headers.get('content-length') ?? '0');
    });
  }

  /**
   * Starts an upload session, or mounts `digest` from repository `from` on the same registry.
   * Returns 'mounted' when the registry linked the blob, else the session's upload URL.
   */
  async startUpload(what: string, mount?: { digest: string; from: string }): Promise<'mounted' | string> {
    const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    return this.send({ method: 'POST', url: this.url(`blobs/uploads/${query}`), headers: { 'content-length': '0' }, what }, async (response) => {
      await response.body?.cancel();
      if (response.status === 201 && mount) return 'mounted';
      return this.resolveLocation(response.headers.get('location'), what);
    });
  }

  /** How many bytes of an upload session the registry holds, or undefined when the session is gone. */
  async uploadOffset(uploadUrl: string, what: string): Promise<{ offset: number; location: string } | undefined> {
    return this.send({ method: 'GET', url: uploadUrl, what, accept: [404, 400] }, async (response) => {
      await response.body?.cancel();
      if (response.status !== 204 && response.status !== 200) return undefined;
      const range = /^(?:bytes=)?0-(\d+)$/.exec(response.headers.get('range') ?? '');
      const offset = range ? Number(range[1]) + 1 : 0;
      const location = response.headers.get('location');
      return { offset, location: location ? this.resolveLocation(location, what) : uploadUrl };
    });
  }

  /** Deletes a blob from the repository (the registry must allow deletes); true when it was there. */
  async deleteBlob(digest: string, what: string): Promise<boolean> {
    return this.send({ method: 'DELETE', url: this.url(`blobs/${digest}`), what, accept: [404] }, async (response) => {
      await response.body?.cancel();
      return response.status !== 404;
    });
  }

  /** PUTs a manifest under a tag or digest; returns the digest the registry reports. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string, what: string): Promise<string | undefined> {
    return this.send(
      { method: 'PUT', url: this.url(`manifests/${reference}`), headers: { 'content-type': mediaType }, body: () => new Uint8Array(bytes), what },
      async (response) => {
        await response.body?.cancel();
        return response.headers.get('docker-content-digest') ?? undefined;
      },
    );
  }
}
