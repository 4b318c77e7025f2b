/**
 * Validates what builder writes against the OCI image-spec: each manifest, index, config and layout file
 * against the spec's own JSON schemas (test/oci-schemas, draft-04, through ajv), plus the rules the schemas
 * cannot say: the media types of one manifest belong to one family (OCI or Docker v2s2), every blob exists
 * with the size and digest its descriptor names, and a config lists one diff_id per layer.
 * Zero-layer manifests (FROM scratch with metadata only) are allowed: the schema says minItems 1 but the
 * spec text says only SHOULD, and BuildKit and docker write such images too.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import AjvDraft04 from 'ajv-draft-04';
import type { ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { repoRoot } from './cli.js';

const execFileAsync = promisify(execFile);

export type OciKind = 'manifest' | 'index' | 'config' | 'layout';

const SCHEMA_DIR = path.join(repoRoot, 'test', 'oci-schemas');
const SCHEMA_FILES: Record<OciKind, string> = {
  manifest: 'image-manifest-schema.json',
  index: 'image-index-schema.json',
  config: 'config-schema.json',
  layout: 'image-layout-schema.json',
};

export const OCI = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layers: ['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+zstd',
    'application/vnd.oci.image.layer.nondistributable.v1.tar', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'],
} as const;
export const DOCKER = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  index: 'application/vnd.docker.distribution.manifest.list.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layers: ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar',
    'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'],
} as const;

/** ids change the base URI of relative $refs in draft-04; the files refer to each other by file name, so drop them. */
function withoutIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIds);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([key, v]) => !(key === 'id' && typeof v === 'string')).map(([key, v]) => [key, withoutIds(v)]));
}

let validators: Record<OciKind, ValidateFunction> | undefined;
function schemaValidators(): Record<OciKind, ValidateFunction> {
  if (validators) return validators;
  // Both packages are CommonJS with a `default` export; under NodeNext ESM the class sits on `.default`.
  const ajv = new AjvDraft04.default({ strict: false, allErrors: true });
  formats.default(ajv);
  for (const file of readdirSync(SCHEMA_DIR).filter((name) => name.endsWith('.json'))) {
    ajv.addSchema(withoutIds(JSON.parse(readFileSync(path.join(SCHEMA_DIR, file), 'utf8'))) as object, `file:///oci/${file}`);
  }
  const get = (kind: OciKind): ValidateFunction => ajv.getSchema(`file:///oci/${SCHEMA_FILES[kind]}`)!;
  validators = { manifest: get('manifest'), index: get('index'), config: get('config'), layout: get('layout') };
  return validators;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
}
interface Manifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  manifests?: unknown;
}

/** Schema errors plus media-type rules for one document; `where` prefixes each problem. */
export function validateDocument(kind: OciKind, document: unknown, where: string): string[] {
  const problems: string[] = [];
  let checked = document;
  // The one documented exception: a manifest with no layers.
  if (kind === 'manifest' && isManifest(document) && document.layers.length === 0) checked = { ...document, layers: [{ mediaType: OCI.layers[1], digest: `sha256:${'0'.repeat(64)}`, size: 0 }] };
  const validate = schemaValidators()[kind];
  if (!validate(checked)) for (const error of validate.errors ?? []) problems.push(`${where}: schema: ${error.instancePath || '/'} ${error.message ?? ''}`);
  if (kind === 'manifest' && isManifest(document)) problems.push(...mediaTypeProblems(document, where));
  if (kind === 'config' && typeof document === 'object' && document !== null) {
    const rootfs = (document as { rootfs?: { type?: string } }).rootfs;
    if (rootfs?.type !== 'layers') problems.push(`${where}: rootfs.type must be "layers"`);
  }
  return problems;
}

function isManifest(document: unknown): document is Manifest {
  return typeof document === 'object' && document !== null && Array.isArray((document as Manifest).layers) && typeof (document as Manifest).config === 'object';
}

/** One family per manifest: OCI manifest → OCI config and layer types; Docker v2s2 → Docker types. */
function mediaTypeProblems(manifest: Manifest, where: string): string[] {
  const family = manifest.mediaType === DOCKER.manifest ? DOCKER : manifest.mediaType === undefined || manifest.mediaType === OCI.manifest ? OCI : undefined;
  if (!family) return [`${where}: unknown manifest media type ${String(manifest.mediaType)}`];
  const problems: string[] = [];
  if (manifest.config.mediaType !== family.config) problems.push(`${where}: config media type ${String(manifest.config.mediaType)} in a ${family.manifest} manifest`);
  manifest.layers.forEach((layer, i) => {
    if (!(family.layers as readonly string[]).includes(layer.mediaType ?? '')) problems.push(`${where}: layer ${i} media type ${String(layer.mediaType)} in a ${family.manifest} manifest`);
  });
  return problems;
}

/** Fetches blobs by digest from somewhere (a layout dir, a registry). Returns undefined when missing. */
export type BlobFetcher = (digest: string) => Promise<Buffer | undefined>;

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Walks one descriptor down (index → manifests → config and layers) and validates everything on the way.
 * Layers are checked for presence, size and digest; `seen` keeps shared blobs from being read twice.
 */
export async function validateTree(fetch: BlobFetcher, descriptor: Descriptor, where: string, seen = new Set<string>()): Promise<string[]> {
  if (seen.has(descriptor.digest)) return [];
  seen.add(descriptor.digest);
  const bytes = await fetch(descriptor.digest);
  if (!bytes) return [`${where}: blob ${descriptor.digest} is missing`];
  const problems: string[] = [];
  if (bytes.length !== descriptor.size) problems.push(`${where}: blob ${descriptor.digest} has ${bytes.length} bytes, its descriptor says ${descriptor.size}`);
  if (sha256(bytes) !== descriptor.digest) problems.push(`${where}: blob ${descriptor.digest} does not match its digest`);
  const type = descriptor.mediaType;
  if (type !== OCI.index && type !== DOCKER.index && type !== OCI.manifest && type !== DOCKER.manifest) return problems;
  const document = JSON.parse(bytes.toString('utf8')) as Manifest & { manifests?: Descriptor[] };
  if (document.mediaType !== undefined && document.mediaType !== type) problems.push(`${where}: ${descriptor.digest} says mediaType ${document.mediaType}, its descriptor ${type}`);
  if (type === OCI.index || type === DOCKER.index) {
    problems.push(...validateDocument('index', document, `${where} index ${descriptor.digest.slice(7, 19)}`));
    for (const child of document.manifests ?? []) problems.push(...(await validateTree(fetch, child, where, seen)));
    return problems;
  }
  const at = `${where} manifest ${descriptor.digest.slice(7, 19)}`;
  problems.push(...validateDocument('manifest', document, at));
  const configBytes = await fetch(document.config.digest);
  if (!configBytes) return [...problems, `${at}: config ${document.config.digest} is missing`];
  if (sha256(configBytes) !== document.config.digest) problems.push(`${at}: config does not match its digest`);
  const config = JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown[] } };
  problems.push(...validateDocument('config', config, `${at} config`));
  if (config.rootfs?.diff_ids?.length !== document.layers.length) problems.push(`${at}: ${document.layers.length} layers but ${config.rootfs?.diff_ids?.length ?? 0} diff_ids`);
  for (const layer of document.layers) {
    if (seen.has(layer.digest)) continue;
    seen.add(layer.digest);
    const blob = await fetch(layer.digest);
    if (!blob) problems.push(`${at}: layer ${layer.digest} is missing`);
    else if (blob.length !== layer.size || sha256(blob) !== layer.digest) problems.push(`${at}: layer ${layer.digest} does not match its size or digest`);
  }
  return problems;
}

/** Validates an OCI image layout directory: oci-layout, index.json and everything it reaches. */
export async function validateLayout(dir: string): Promise<string[]> {
  const where = `layout ${dir}`;
  if (!existsSync(path.join(dir, 'oci-layout'))) return [`${where}: no oci-layout file`];
  const problems = validateDocument('layout', JSON.parse(await readFile(path.join(dir, 'oci-layout'), 'utf8')), `${where} oci-layout`);
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
  problems.push(...validateDocument('index', index, `${where} index.json`));
  const fetch: BlobFetcher = async (digest) => {
    const file = path.join(dir, 'blobs', ...digest.split(':'));
    return existsSync(file) ? readFile(file) : undefined;
  };
  const seen = new Set<string>();
  for (const entry of index.manifests ?? []) problems.push(...(await validateTree(fetch, entry, where, seen)));
  return problems;
}

/** Validates an image as a registry serves it (`host/repo:tag` on a loopback registry, plain HTTP). */
export async function validateRegistryImage(host: string, repository: string, reference: string): Promise<string[]> {
  const accept = [OCI.index, OCI.manifest, DOCKER.index, DOCKER.manifest].join(', ');
  const head = await fetch(`http://${host}/v2/${repository}/manifests/${reference}`, { headers: { accept } });
  if (!head.ok) return [`${host}/${repository}:${reference}: manifest fetch answered ${head.status}`];
  const bytes = Buffer.from(await head.arrayBuffer());
  const mediaType = head.headers.get('content-type') ?? '';
  const blobs: BlobFetcher = async (digest) => {
    if (digest === sha256(bytes)) return bytes;
    const isManifest = await fetch(`http://${host}/v2/${repository}/manifests/${digest}`, { headers: { accept } });
    if (isManifest.ok) return Buffer.from(await isManifest.arrayBuffer());
    const blob = await fetch(`http://${host}/v2/${repository}/blobs/${digest}`);
    return blob.ok ? Buffer.from(await blob.arrayBuffer()) : undefined;
  };
  return validateTree(blobs, { mediaType, digest: sha256(bytes), size: bytes.length }, `${host}/${repository}:${reference}`);
}

/**
 * Validates an image archive (`builder save`, `--output type=oci|docker`): the OCI layout inside, when there
 * is one, and every config docker's manifest.json names (with one layer file per diff_id).
 */
export async function validateArchive(archive: string, scratchDir: string): Promise<string[]> {
  const dir = await mkdtemp(path.join(scratchDir, 'validate-'));
  try {
    await execFileAsync('tar', ['-xf', archive, '-C', dir]);
    const problems = existsSync(path.join(dir, 'oci-layout')) ? await validateLayout(dir) : [];
    if (!existsSync(path.join(dir, 'manifest.json'))) return problems.length > 0 || existsSync(path.join(dir, 'oci-layout')) ? problems : [`${archive}: neither oci-layout nor manifest.json`];
    const items = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
    for (const [i, item] of items.entries()) {
      const where = `${archive} manifest.json[${i}]`;
      const config = JSON.parse(await readFile(path.join(dir, item.Config), 'utf8')) as { rootfs?: { diff_ids?: unknown[] } };
      problems.push(...validateDocument('config', config, `${where} config`));
      if (config.rootfs?.diff_ids?.length !== item.Layers.length) problems.push(`${where}: ${item.Layers.length} layers but ${config.rootfs?.diff_ids?.length ?? 0} diff_ids`);
      for (const layer of item.Layers) if (!existsSync(path.join(dir, layer))) problems.push(`${where}: layer file ${layer} is missing`);
    }
    return problems;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
