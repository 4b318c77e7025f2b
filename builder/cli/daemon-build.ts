/**
 * `builder build` through a running daemon: the context goes up as a tar (.dockerignore applied), the daemon runs
 * the same engine and sends the engine's own BuildEvents back, so progress, the printed id and errors (with their
 * `>>>` excerpt) are exactly what an embedded build prints.
 */
import path from 'node:path';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { stat, writeFile } from 'node:fs/promises';
import { BuildError, BuildErrors } from '../errors.js';
import type { BuildEvent } from '../events.js';
import type { SerializedBuildError } from '../../api/docker/build.js';
import { resolveContext } from '../context/context-dir.js';
import type { BuildFlags } from './build.js';
import { daemonRequest, unreachable, type DaemonTarget } from './daemon-client.js';
import { registerSource } from './excerpt.js';
import { readDockerfile } from '../dockerfile/read-dockerfile.js';
import { parseBuildArgs, parseSize } from './options.js';
import { buildProgress } from './progress-mode.js';

/**
 * Builds the daemon's `/build` cannot take as they are, which stay in this process: flags it has no parameter for,
 * and a Dockerfile outside the context (`-f -`, `-f /elsewhere/Dockerfile`), which the tar would not carry.
 */
export function needsEmbedded(flags: BuildFlags, contextArg: string): boolean {
  // What the Engine API's /build cannot carry is built in this process, so every flag means the same either way.
  if (flags.secret?.length || flags.ssh?.length || flags.output?.length || flags.buildContext?.length || flags.cacheFilter?.length || flags.pidsLimit || flags.push) return true;
  if (flags.cacheTo?.length || flags.cacheFrom?.length || flags.metadataFile || (flags.network !== undefined && flags.network !== 'host' && flags.network !== 'none')) return true;
  if (flags.file === '-' || flags.trace || flags.runtime) return true;
  if (flags.file && contextArg !== '-') {
    const relative = path.relative(path.resolve(contextArg), path.resolve(flags.file));
    if (relative.startsWith('..') || path.isAbsolute(relative)) return true;
  }
  return false;
}

function toBuildError(e: SerializedBuildError): BuildError {
  if (e.errors && e.errors.length > 0) return new BuildErrors(e.errors.map(toBuildError));
  return new BuildError(e.code, e.message, { file: e.file, line: e.line, detail: e.detail });
}

/**
 * The daemon's JSON stream, one message a line. (node:readline would do, at the price of loading it: the short
 * path to the daemon counts every module, daemon-fast.ts.)
 */
async function* jsonLines(response: IncomingMessage): AsyncGenerator<string> {
  response.setEncoding('utf8');
  let pending = '';
  for await (const chunk of response as AsyncIterable<string>) {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    yield* lines;
  }
  if (pending !== '') yield pending;
}

/** Names the context directory for a daemon on this machine, with the identity it must find there. */
async function namedContextHeaders(contextDir: string): Promise<Record<string, string>> {
  const info = await stat(contextDir);
  return { 'X-Builder-Context-Dir': encodeURIComponent(contextDir), 'X-Builder-Context-Id': `${info.dev}:${info.ino}` };
}

export async function daemonBuildCommand(target: DaemonTarget, contextArg: string, flags: BuildFlags): Promise<number> {
  // A plain directory needs only context-dir.ts; stdin contexts need the archive readers (imported then).
  const { contextDir, dockerfilePath, dockerfileName } = contextArg === '-' || flags.file === '-'
    ? await (await import('./build-contexts.js')).resolveBuildContext(contextArg, flags.file)
    : await resolveContext(contextArg, flags.file);
  const relative = path.relative(contextDir, dockerfilePath);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new BuildError('INVALID_ARGUMENT', `through the daemon the Dockerfile must be inside the context (${dockerfilePath}); use --no-daemon`);
  }
  registerSource(dockerfileName, (await readDockerfile(contextDir, dockerfilePath, dockerfileName)).content);
  const query = new URLSearchParams();
  for (const tag of flags.tag) query.append('t', tag);
  query.set('dockerfile', relative.split(path.sep).join('/'));
  const buildArgs = parseBuildArgs(flags.buildArg);
  if (Object.keys(buildArgs).length > 0) query.set('buildargs', JSON.stringify(buildArgs));
  const labels = Object.fromEntries((flags.label ?? []).map((l) => [l.split('=')[0]!, l.slice(l.indexOf('=') + 1)]));
  if (Object.keys(labels).length > 0) query.set('labels', JSON.stringify(labels));
  if (flags.target) query.set('target', flags.target);
  if (!flags.cache) query.set('nocache', '1');
  if (flags.pull) query.set('pull', '1');
  if (flags.network === 'none') query.set('networkmode', 'none');
  const memory = parseSize(flags.memory);
  if (memory) query.set('memory', String(memory));

  const quiet = flags.quiet === true || flags.progress === 'quiet';
  const progress = buildProgress(quiet ? 'quiet' : flags.progress);
  const onEvent: (event: BuildEvent) => void = progress.onEvent;
  let current: ClientRequest | undefined;
  // Ctrl-C closes the connection, which cancels the build in the daemon.
  const onSignal = (): void => void current?.destroy(new BuildError('CANCELLED', 'build cancelled'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const post = (headers: Record<string, string>, body: Buffer): Promise<IncomingMessage> => new Promise((resolve, reject) => {
    const request = daemonRequest(target, 'POST', `/build?${query}`, { 'X-Builder-Events': '1', 'Content-Length': String(body.length), ...headers });
    current = request;
    request.on('response', resolve);
    request.on('error', (err) => reject(err instanceof BuildError ? err : unreachable(target, err)));
    request.end(body);
  });
  try {
    // On the daemon's own machine (a unix socket) the daemon reads the directory itself (api/docker/build-context-dir.ts);
    // a 409 says it sees another filesystem there, and an older daemon says the (empty) context is missing: send the tar.
    let response = contextArg !== '-' && flags.file !== '-' && 'socketPath' in target
      ? await post(await namedContextHeaders(contextDir), Buffer.alloc(0))
      : undefined;
    if (response && (response.statusCode === 409 || response.statusCode === 400)) {
      response.resume();
      response = undefined;
    }
    if (!response) {
      const { packContext } = await import('./remote-build.js');
      response = await post({ 'Content-Type': 'application/x-tar' }, await packContext(contextDir, dockerfilePath));
    }
    let manifestDigest: string | undefined;
    let failure: BuildError | undefined;
    for await (const line of jsonLines(response)) {
      if (!line.trim()) continue;
      const message = JSON.parse(line) as { message?: string; aux?: { builderEvent?: BuildEvent; builderError?: SerializedBuildError; ManifestDigest?: string }; error?: string };
      if (response.statusCode !== 200) throw new BuildError(response.statusCode === 400 ? 'INVALID_ARGUMENT' : 'INTERNAL', message.message ?? line);
      if (message.aux?.builderEvent) onEvent(message.aux.builderEvent);
      else if (message.aux?.builderError) failure = toBuildError(message.aux.builderError);
      else if (message.aux?.ManifestDigest) manifestDigest = message.aux.ManifestDigest;
      else if (message.error) failure ??= new BuildError('INTERNAL', message.error);
    }
    if (failure) throw failure;
    if (!manifestDigest) throw new BuildError('INTERNAL', 'the daemon ended the build without an image id');
    if (flags.iidfile) await writeFile(flags.iidfile, manifestDigest);
    if (!quiet && progress.mode !== 'rawjson') for (const tag of flags.tag) process.stderr.write(`naming to ${tag} done\n`);
    process.stdout.write(`${manifestDigest}\n`);
    return 0;
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
