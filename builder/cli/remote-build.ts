/**
 * `builder build --remote URL`: sends the context (a gzip tar, .dockerignore applied) to the farm API,
 * prints the build's BuildEvents as a local build would, and ends with its status and image digest.
 */
import { lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { canSkipExcludedDir, loadIgnore } from '../context/ignore.js';
import { resolveContext } from '../context/context-dir.js';
import { BuildError, errorCodes, type ErrorCode } from '../errors.js';
import type { BuildEvent } from '../events.js';
import type { BuildFlags } from './build.js';
import { registerSource } from './excerpt.js';
import { readDockerfile } from '../dockerfile/read-dockerfile.js';
import { parseBuildArgs, type GlobalOptions } from './options.js';
import { SseParser } from '../../api/sse-parser.js';
import { buildProgress } from './progress-mode.js';

export interface RemoteFlags extends BuildFlags {
  push?: boolean;
  remote: string;
  token?: string;
}

const RECONNECTS = 5;

export async function remoteBuildCommand(contextArg: string, flags: RemoteFlags, global: GlobalOptions): Promise<number> {
  void global;
  // The farm's record has no manifest descriptor or config digest to write buildx's keys from.
  if (flags.metadataFile) throw new BuildError('INVALID_ARGUMENT', '--metadata-file is not supported with --remote yet: read the digest from GET /v1/builds/<id>');
  // An agent on this machine cannot answer a worker's RUN (no session back to the client, as buildx has).
  if (flags.ssh?.length) throw new BuildError('INVALID_ARGUMENT', '--ssh is not supported with --remote: the farm\'s workers cannot reach an SSH agent on this machine');
  if (flags.runtime) throw new BuildError('INVALID_ARGUMENT', '--runtime is not supported with --remote: the farm\'s workers choose theirs ([build] runtime in their config, or BUILDER_RUNTIME)');
  const git = gitContext(contextArg);
  if (git) return remoteBuild(git, undefined, flags.file ?? 'Dockerfile', flags);
  const { contextDir, dockerfilePath, dockerfileName } = await resolveContext(contextArg, flags.file);
  if (path.isAbsolute(dockerfileName)) {
    throw new BuildError('INVALID_ARGUMENT', `remote builds need the Dockerfile inside the context: ${dockerfilePath} is outside ${contextDir}`);
  }
  registerSource(dockerfileName, (await readDockerfile(contextDir, dockerfilePath, dockerfileName)).content);
  return remoteBuild(undefined, await packContext(contextDir, dockerfilePath), dockerfileName.split(path.sep).join('/'), flags);
}

/**
 * A git context as docker names one: `https://host/repo.git[#ref]`, `ssh://…`, `git://…`, `git@host:repo[#ref]`,
 * or any of those schemes (and file://, which the farm's [git] policy must allow) with a `#ref`. The farm clones it;
 * docker's `#ref:subdir` has no farm counterpart yet and is refused.
 */
export function gitContext(arg: string): { url: string; ref: string } | undefined {
  const hash = arg.indexOf('#');
  const url = hash >= 0 ? arg.slice(0, hash) : arg;
  const fragment = hash >= 0 ? arg.slice(hash + 1) : '';
  const looksGit = /^git@[^:]+:/.test(url) || /^(git|ssh):\/\//.test(url) || (/^https?:\/\//.test(url) && (url.endsWith('.git') || hash >= 0))
    || (/^file:\/\//.test(url) && hash >= 0);
  if (!looksGit) return undefined;
  const [ref, subdir] = fragment.split(':');
  if (subdir) throw new BuildError('INVALID_ARGUMENT', `git context "${arg}": a subdirectory (#ref:dir) is not supported by the build farm; put the Dockerfile's context at the repository root or pass -f dir/Dockerfile`);
  return { url, ref: ref || 'HEAD' };
}

async function remoteBuild(git: { url: string; ref: string } | undefined, tarBody: Buffer | undefined, dockerfileName: string, flags: RemoteFlags): Promise<number> {
  const base = flags.remote.replace(/\/+$/, '');
  const token = flags.token ?? process.env.BUILDER_TOKEN;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const query = new URLSearchParams();
  for (const tag of flags.tag) query.append('t', tag);
  query.set('dockerfile', dockerfileName);
  for (const [name, value] of Object.entries(parseBuildArgs(flags.buildArg))) query.append('buildarg', `${name}=${value}`);
  if (flags.target) query.set('target', flags.target);
  if (!flags.cache) query.set('nocache', 'true');
  if (flags.push) query.set('push', 'true');

  const submitted = git
    ? await request(`${base}/v1/builds`, {
      method: 'POST', headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({
        git, dockerfile: dockerfileName, tags: flags.tag, buildArgs: parseBuildArgs(flags.buildArg), ...(flags.target ? { target: flags.target } : {}),
        noCache: !flags.cache, push: flags.push === true,
      }),
    })
    : await request(`${base}/v1/builds?${query}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/gzip' }, body: new Uint8Array(tarBody!) });
  const { id } = (await submitted.json()) as { id: string };
  const quiet = flags.quiet === true || flags.progress === 'quiet';
  if (!quiet) process.stderr.write(`remote build ${id} on ${base}\n`);
  const progress = buildProgress(quiet ? 'quiet' : flags.progress);
  const print = progress.onEvent;

  const cancel = (): void => { void fetch(`${base}/v1/builds/${id}`, { method: 'DELETE', headers }).catch(() => undefined); };
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);
  let done: Extract<BuildEvent, { type: 'build.done' }> | undefined;
  try {
    done = await followLogs(`${base}/v1/builds/${id}/logs`, headers, print);
  } finally {
    progress.stop();
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
  if (flags.trace) await downloadTrace(`${base}/v1/builds/${id}/trace`, headers, flags.trace);
  if (done.error) {
    const code = (done.error.code in errorCodes ? done.error.code : 'INTERNAL') as ErrorCode;
    throw new BuildError(code, done.error.message, { file: done.error.line ? dockerfileName : undefined, line: done.error.line });
  }
  const status = (await (await request(`${base}/v1/builds/${id}`, { headers })).json()) as { imageDigest?: string; pushed?: { reference: string }[] };
  const digest = status.imageDigest ?? done.imageDigest ?? '';
  if (flags.iidfile) await writeFile(flags.iidfile, digest);
  if (!quiet) for (const tag of flags.tag) process.stderr.write(`naming to ${tag} done (on the build farm)\n`);
  process.stdout.write(`${digest}\n`);
  return 0;
}

/**
 * `--trace FILE` of a farm build: the worker stores the trace just after the build's last event, so a 404 is
 * retried for a few seconds. A trace that never comes is a warning, not a failed build.
 */
async function downloadTrace(url: string, headers: Record<string, string>, file: string): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const response = await fetch(url, { headers }).catch(() => undefined);
    if (response?.status === 200) {
      const { writeFileAtomic } = await import('../store/atomic-write.js');
      await writeFileAtomic(file, Buffer.from(await response.arrayBuffer()), { sync: false });
      return;
    }
    await response?.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.stderr.write(`WARNING: --trace ${file}: the build farm kept no trace of this build\n`);
}

/** fetch that turns an error answer into a BuildError carrying the API's code and message. */
async function request(url: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new BuildError('REGISTRY_UNAVAILABLE', `cannot reach the build farm at ${new URL(url).origin}: ${(err as Error).cause ?? (err as Error).message}`, { cause: err });
  }
  if (response.ok) return response;
  const text = await response.text();
  let message = text.slice(0, 300);
  let code: ErrorCode = response.status === 401 || response.status === 403 ? 'REGISTRY_AUTH' : 'INVALID_ARGUMENT';
  try {
    const parsed = JSON.parse(text) as { code?: string; message?: string };
    message = parsed.message ?? message;
    if (parsed.code && parsed.code in errorCodes) code = parsed.code as ErrorCode;
  } catch {
    // not JSON: keep the text
  }
  throw new BuildError(code, `build farm: ${response.status} ${message}${response.status === 401 ? ' (pass --token or set BUILDER_TOKEN)' : ''}`);
}

/** Reads the SSE stream to `build.done`, reconnecting with Last-Event-ID if the connection drops. */
async function followLogs(url: string, headers: Record<string, string>, print: (event: BuildEvent) => void): Promise<Extract<BuildEvent, { type: 'build.done' }>> {
  let lastId: string | undefined;
  for (let attempt = 0; attempt <= RECONNECTS; attempt++) {
    try {
      const response = await request(url, { headers: { ...headers, accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) } });
      const decoder = new TextDecoder();
      let done: Extract<BuildEvent, { type: 'build.done' }> | undefined;
      const parser = new SseParser((message) => {
        if (done) return;
        if (message.id) lastId = message.id;
        const event = JSON.parse(message.data) as BuildEvent;
        // build.done too: the tty view draws its last frame (and a failed step's box) on it.
        if (event.type === 'build.done') done = event;
        print(event);
      });
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        parser.push(decoder.decode(chunk, { stream: true }));
        if (done) return done;
      }
    } catch (err) {
      if (err instanceof BuildError && err.code !== 'REGISTRY_UNAVAILABLE') throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
  }
  throw new BuildError('REGISTRY_UNAVAILABLE', `lost the log stream of the remote build (${url}) ${RECONNECTS} times; see its status with GET ${url.replace(/\/logs$/, '')}`);
}

/** The context as a gzip tar: .dockerignore applied, the Dockerfile and .dockerignore always sent (as docker does). */
export async function packContext(contextDir: string, dockerfilePath: string): Promise<Buffer> {
  const ignored = await loadIgnore(contextDir, dockerfilePath);
  const keep = new Set([path.relative(contextDir, dockerfilePath).split(path.sep).join('/'), '.dockerignore', '.containerignore']);
  const pack = tar.pack();
  const gzip = pack.pipe(createGzip());
  const chunks: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
  const finished = new Promise<void>((resolve, reject) => { gzip.on('end', resolve); gzip.on('error', reject); pack.on('error', reject); });
  const add = (header: Partial<tar.Header> & { name: string }, body?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  const walk = async (relDir: string): Promise<void> => {
    const names = (await readdir(path.join(contextDir, relDir))).sort();
    for (const name of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = path.join(contextDir, rel);
      const info = await lstat(abs);
      const excluded = ignored(rel) && !keep.has(rel);
      const common = { name: rel, mode: info.mode & 0o7777, uid: info.uid, gid: info.gid, mtime: info.mtime };
      if (info.isDirectory()) {
        if (excluded && canSkipExcludedDir(ignored)) continue;
        if (!excluded) await add({ ...common, type: 'directory' });
        await walk(rel);
      } else if (excluded) {
        continue;
      } else if (info.isSymbolicLink()) {
        await add({ ...common, type: 'symlink', linkname: await readlink(abs) });
      } else if (info.isFile()) {
        await add({ ...common, type: 'file', size: info.size }, await readFile(abs));
      }
    }
  };
  await walk('');
  pack.finalize();
  await finished;
  return Buffer.concat(chunks);
}
