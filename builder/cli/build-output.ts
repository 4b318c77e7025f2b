/**
 * `build --output`: besides the image in the store, write the result somewhere, as BuildKit's exporters:
 * `type=oci|docker,dest=FILE` an image archive; `type=tar,dest=FILE` a tar of the final filesystem;
 * `type=local,dest=DIR` that filesystem as files. `-o DIR` means local, `-o -` a tar on stdout.
 * `type=image[,name=…][,push=true]` / `type=registry` name (and push) the image in the store;
 * `oci-mediatypes=false` on any of them writes a Docker v2 schema 2 manifest instead of an OCI one;
 * `compression=uncompressed|gzip|zstd[,compression-level=N][,force-compression=true]` the layers' encoding.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors.js';
import { parseFlagFields } from './flag-fields.js';
import { checkCompressionLevel, COMPRESSION_TYPES, type LayerCompression, type LayerCompressionType } from '../image/compression-options.js';
import type { ManifestFormat } from '../image/media-types.js';
import type { Descriptor } from '../image/types.js';
import type { Store } from '../store/store.js';

export type OutputType = 'oci' | 'docker' | 'tar' | 'local';

/** One `--output` that writes files: what to write and where (`-` is stdout, for the archive types). */
export interface FileOutputSpec {
  type: OutputType;
  dest: string;
  /** `oci-mediatypes=true|false` on an archive: the image's manifest family (undefined: not said). */
  ociMediaTypes?: boolean;
  /** `compression=…` on an archive: the layers' encoding (undefined: not said). */
  compression?: LayerCompression;
}

/** `type=image` / `type=registry`: the image in the store, under extra `name`s, pushed when `push`. */
export interface ImageOutputSpec {
  type: 'image';
  names: string[];
  push: boolean;
  ociMediaTypes?: boolean;
  compression?: LayerCompression;
}

export type OutputSpec = FileOutputSpec | ImageOutputSpec;

const TYPES: readonly string[] = ['oci', 'docker', 'tar', 'local', 'image', 'registry'];
const COMPRESSION_ATTRIBUTES = ['compression', 'compression-level', 'force-compression'];
const ATTRIBUTES: Record<string, readonly string[]> = {
  oci: ['dest', 'oci-mediatypes', ...COMPRESSION_ATTRIBUTES],
  docker: ['dest', 'oci-mediatypes', ...COMPRESSION_ATTRIBUTES],
  tar: ['dest'],
  local: ['dest'],
  image: ['name', 'push', 'oci-mediatypes', ...COMPRESSION_ATTRIBUTES],
  registry: ['name', 'push', 'oci-mediatypes', ...COMPRESSION_ATTRIBUTES],
};

/** `compression=…,compression-level=N,force-compression=bool` as BuildKit spells them (undefined: none given). */
function parseCompression(fields: Map<string, string>): LayerCompression | undefined {
  const type = fields.get('compression');
  const level = fields.get('compression-level');
  const force = fields.get('force-compression');
  if (type === undefined) {
    if (level !== undefined || force !== undefined) throw new BuildError('INVALID_ARGUMENT', '--output: compression-level and force-compression need compression=gzip|zstd|uncompressed');
    return undefined;
  }
  if (!COMPRESSION_TYPES.includes(type as LayerCompressionType)) {
    throw new BuildError('INVALID_ARGUMENT', `invalid --output compression "${type}": want one of ${COMPRESSION_TYPES.join(', ')}`);
  }
  const compression: LayerCompression = { type: type as LayerCompressionType };
  if (level !== undefined) {
    if (!/^\d+$/.test(level)) throw new BuildError('INVALID_ARGUMENT', `invalid --output compression-level="${level}": want a number`);
    compression.level = checkCompressionLevel(compression.type, Number(level));
  }
  if (force !== undefined && parseBool(force, 'force-compression')) compression.force = true;
  return compression;
}

function parseBool(value: string, what: string): boolean {
  if (/^(true|1)$/i.test(value) || value === '') return true;
  if (/^(false|0)$/i.test(value)) return false;
  throw new BuildError('INVALID_ARGUMENT', `invalid --output ${what}="${value}": want true or false`);
}

/** Parses `type=…,dest=…` or the short forms `DIR` and `-`, as docker buildx does. */
export function parseOutput(value: string): OutputSpec {
  if (value === '-') return { type: 'tar', dest: '-' };
  if (!value.includes('=')) return { type: 'local', dest: value };
  const fields = parseFlagFields(value, '--output');
  const type = fields.get('type') ?? 'local';
  if (!TYPES.includes(type)) throw new BuildError('INVALID_ARGUMENT', `invalid --output type "${type}": want one of ${TYPES.join(', ')}`);
  const unknown = [...fields.keys()].filter((key) => key !== 'type' && !ATTRIBUTES[type]!.includes(key));
  if (unknown.length > 0) throw new BuildError('INVALID_ARGUMENT', `--output type=${type}: unsupported attribute ${unknown.join(', ')}`);
  const media = fields.get('oci-mediatypes');
  const ociMediaTypes = media === undefined ? undefined : parseBool(media, 'oci-mediatypes');
  const compression = parseCompression(fields);
  if (type === 'image' || type === 'registry') {
    const name = fields.get('name');
    const push = type === 'registry' || parseBool(fields.get('push') ?? 'false', 'push');
    const spec: ImageOutputSpec = { type: 'image', names: name ? [name] : [], push };
    if (ociMediaTypes !== undefined) spec.ociMediaTypes = ociMediaTypes;
    if (compression) spec.compression = compression;
    return spec;
  }
  const dest = fields.get('dest');
  if (!dest) throw new BuildError('INVALID_ARGUMENT', `--output type=${type} needs dest=PATH`);
  if (type === 'local' && dest === '-') throw new BuildError('INVALID_ARGUMENT', '--output type=local needs a directory, not stdout');
  const spec: FileOutputSpec = { type: type as OutputType, dest };
  if (ociMediaTypes !== undefined) spec.ociMediaTypes = ociMediaTypes;
  if (compression) spec.compression = compression;
  return spec;
}

/**
 * The layers' encoding the build writes (undefined: as built, gzip). One build writes one manifest, so
 * outputs asking for different encodings are an error.
 */
export function outputCompression(specs: OutputSpec[]): LayerCompression | undefined {
  const said = specs.map((spec) => spec.compression).filter((c): c is LayerCompression => c !== undefined);
  const distinct = new Set(said.map((c) => JSON.stringify([c.type, c.level, c.force === true])));
  if (distinct.size > 1) throw new BuildError('INVALID_ARGUMENT', '--output: different compression settings in one build; one image has one manifest');
  return said[0];
}

/**
 * The media-type family the build writes: OCI unless an output says `oci-mediatypes=false`. One build
 * writes one manifest, so outputs that disagree are an error rather than a silent pick.
 */
export function outputFormat(specs: OutputSpec[]): ManifestFormat {
  const said = new Set(specs.map((spec) => spec.ociMediaTypes).filter((v): v is boolean => v !== undefined));
  if (said.size > 1) throw new BuildError('INVALID_ARGUMENT', '--output: oci-mediatypes=true and oci-mediatypes=false in one build; one image has one manifest format');
  return said.has(false) ? 'docker' : 'oci';
}

/** The built image as the given output. `tags` name it inside image archives (an untagged build is saved by digest). */
export async function writeOutput(store: Store, manifest: Descriptor, tags: string[], spec: FileOutputSpec): Promise<void> {
  // The archive writer, overlay mounts and the layer code load with --output only: build.ts imports this module
  // for its flag parsing on every build.
  if (spec.type === 'oci' || spec.type === 'docker') {
    const { saveImages } = await import('../store/archive.js');
    const names = tags.length > 0 ? tags : [manifest.digest];
    if (spec.dest !== '-') {
      await mkdir(path.dirname(path.resolve(spec.dest)), { recursive: true });
      return saveImages(store, names, path.resolve(spec.dest), spec.type);
    }
    const temp = store.tempPath('output');
    try {
      await saveImages(store, names, temp, spec.type);
      await pipeline(createReadStream(temp), process.stdout, { end: false });
    } finally {
      await rm(temp, { force: true });
    }
    return;
  }
  const image = await store.resolve(manifest.digest);
  if (!image) throw new BuildError('STORE_CORRUPT', `the image just built (${manifest.digest}) is missing from the store`);
  const [{ storeSnapshots }, { mountReadonly }, { lowerDirs }] = await Promise.all([
    import('../snapshot/store-snapshots.js'), import('../snapshot/mount.js'), import('../exec/commit.js'),
  ]);
  const snapshots = storeSnapshots(store);
  // The read-only overlay is the flattened filesystem: whiteouts already applied, upper layers winning.
  const mounted = await mountReadonly(store.tmpDir, await lowerDirs({ snapshots }, image.layers));
  try {
    if (spec.type === 'local') await copyTree(mounted.merged, path.resolve(spec.dest));
    else await tarTree(mounted.merged, spec.dest === '-' ? '-' : path.resolve(spec.dest));
  } finally {
    await mounted.release();
  }
}

function exec(command: string, args: string[], stdout: 'inherit' | 'ignore' = 'ignore'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', stdout, 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (err) => reject(new BuildError('INTERNAL', `cannot run ${command}: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new BuildError('INVALID_ARGUMENT', `writing the build output failed (${command} exited ${code}): ${stderr.trim().slice(0, 400)}`));
    });
  });
}

/**
 * Copies the image's filesystem into `dest`, keeping owners, modes, times, links, devices and xattrs, and never
 * writing *through* a symlink already in `dest`: `cp -a` opens an existing `dest/f -> /outside/file` and
 * overwrites the target, and copies into a linked directory. GNU tar's extraction instead unlinks what is in
 * the way (a link where the image has a file or directory is replaced; `--keep-directory-symlink` is not given).
 */
async function copyTree(from: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const pack = spawn('tar', ['-C', from, '-c', '-f', '-', '--numeric-owner', '--xattrs', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const unpack = spawn('tar', ['-C', dest, '-x', '-f', '-', '--numeric-owner', '--same-owner', '-p', '--xattrs', '--xattrs-include=*'], { stdio: ['pipe', 'ignore', 'pipe'] });
    pack.stdout.pipe(unpack.stdin);
    unpack.stdin.on('error', () => undefined); // a failing extractor closes its input early; its exit code says why
    let stderr = '';
    pack.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    unpack.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const codes: (number | null)[] = [];
    const done = (code: number | null): void => {
      codes.push(code);
      if (codes.length < 2) return;
      if (codes.every((c) => c === 0)) resolve();
      else reject(new BuildError('INVALID_ARGUMENT', `writing the build output to ${dest} failed: ${stderr.trim().slice(0, 400)}`));
    };
    for (const child of [pack, unpack]) {
      child.on('error', (err) => reject(new BuildError('INTERNAL', `cannot run tar: ${err.message}`, { cause: err })));
      child.on('close', done);
    }
  });
}

/** A tar with names relative to the root (`bin/sh`, not `./bin/sh`), as BuildKit's tar exporter writes them. */
async function tarTree(from: string, dest: string): Promise<void> {
  const names = (await readdir(from)).sort();
  if (dest !== '-') await mkdir(path.dirname(dest), { recursive: true });
  const args = ['-C', from, '-c', '-f', dest, '--numeric-owner', '--xattrs', '--sort=name'];
  await exec('tar', names.length > 0 ? [...args, '--', ...names] : [...args, '-T', '/dev/null'], dest === '-' ? 'inherit' : 'ignore');
}
