import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { BuildError, errorMessage } from '../errors.js';
import type { BuildEvent } from '../events.js';
import { cacheOptionsFromEnv, createEngine } from '../engine.js';
import { withBuildLease } from '../store/gc-lease.js';
import { whenIdle, type IdleTask } from '../store/idle-work.js';
import type { Store } from '../store/store.js';
import { parseCacheFrom, parseCacheTo } from './cache-flags.js';
import { parseBuildContexts, parseLabels, resolveBuildContext } from './build-contexts.js';
import { outputCompression, outputFormat, parseOutput, writeOutput, type FileOutputSpec } from './build-output.js';
import { registerSource } from './excerpt.js';
import { readDockerfile } from '../dockerfile/read-dockerfile.js';
import { type GlobalOptions, parseBuildArgs, parsePositiveInt, parseSize } from './options.js';
import { buildProgress } from './progress-mode.js';
import { loadSecrets } from './secrets.js';
import { loadSshAgents } from './ssh.js';
import { Tracer } from '../trace/tracer.js';

export interface BuildFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  target?: string;
  cache: boolean;
  cacheFilter?: string[];
  progress: 'auto' | 'plain' | 'tty' | 'quiet';
  network: 'host' | 'none' | 'default' | 'isolated';
  iidfile?: string;
  /** `--metadata-file FILE`: buildx's JSON result for CI. (`--progress` also takes `rawjson`.) */
  metadataFile?: string;
  quiet?: boolean;
  memory?: string;
  pidsLimit?: string;
  /** `--secret id=…,src=…|env=…`, repeatable. */
  secret?: string[];
  /** `--ssh default|id[=socket|key,…]`, repeatable. */
  ssh?: string[];
  pull?: boolean;
  push?: boolean;
  /** `--label k=v`, `--output spec`, `--build-context name=value`; each repeatable. */
  label?: string[];
  output?: string[];
  buildContext?: string[];
  cacheTo?: string[];
  cacheFrom?: string[];
  /** `--trace FILE`: the build's Chrome/Perfetto trace. */
  trace?: string;
  /** `--runtime runc|crun`: the OCI runtime for RUN steps. */
  runtime?: string;
}

/** `builder build`: progress on stderr, the image id on stdout. */
export async function buildCommand(contextArg: string, flags: BuildFlags, global: GlobalOptions): Promise<number> {
  // The trace starts with the command, so what happens before the engine opens is in it too.
  const tracer = new Tracer();
  const { contextDir, dockerfilePath, dockerfileName } = await tracer.root.child('resolve context', () => resolveBuildContext(contextArg, flags.file));
  const specs = (flags.output ?? []).map(parseOutput);
  const outputs = specs.filter((spec): spec is FileOutputSpec => spec.type !== 'image');
  const manifestFormat = outputFormat(specs);
  const layerCompression = outputCompression(specs);
  const tags = [...flags.tag, ...specs.flatMap((spec) => (spec.type === 'image' ? spec.names : []))];
  const push = flags.push === true || specs.some((spec) => spec.type === 'image' && spec.push);
  const buildContexts = await parseBuildContexts(flags.buildContext ?? []);
  // The same resolution and checks as the build's own read, so an error excerpt quotes only the real Dockerfile.
  const dockerfileContent = (await tracer.root.child('read Dockerfile', () => readDockerfile(contextDir, dockerfilePath, dockerfileName))).content;
  registerSource(dockerfileName, dockerfileContent);
  const buildArgs = parseBuildArgs(flags.buildArg);
  const cacheTo = (flags.cacheTo ?? []).map(parseCacheTo);
  const cacheFrom = (flags.cacheFrom ?? []).map(parseCacheFrom);
  const secrets = await loadSecrets(flags.secret ?? []);
  if (push && tags.length === 0) throw new BuildError('INVALID_ARGUMENT', '--push needs at least one -t host/repo:tag (or --output type=image,name=…) to push to');
  const runtime = await tracer.root.child('runtime', () => buildRuntime(flags.runtime));
  const engine = await tracer.root.child('open store', () => createEngine({ root: global.root, cache: cacheOptionsFromEnv() }));
  const store = engine.store;
  // The automatic GC's limit (its modules to load, the config file to read) is looked up while the build waits on a
  // runtime (store/idle-work.ts), not after the result: the end of a cold build then pays for it only when a limit is set.
  const gcLimit = whenIdle(async () => (await import('../store/gc-auto.js')).gcKeepStorage());
  const quiet = flags.quiet === true || flags.progress === 'quiet';
  const progress = buildProgress(quiet ? 'quiet' : flags.progress);
  const onEvent: (event: BuildEvent) => void = progress.onEvent;
  const abort = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      // A second signal: stop waiting for the cleanup and die by it. What the build leaves (a container, a
      // mount, a bundle) carries our pid and is reaped by the next build or prune (store/reap.ts).
      for (const name of STOP_SIGNALS) process.off(name, onSignal);
      process.kill(process.pid, signal);
      return;
    }
    signalled = signal;
    abort.abort();
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  // Last before the try: a private ssh-agent started for key files is stopped in its finally.
  const ssh = await loadSshAgents(flags.ssh ?? []).catch(async (err: unknown) => {
    await engine.close();
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
    throw err;
  });
  try {
    // engine.build() holds a GC lease of its own while it runs.
    const result = await engine.build({
      contextDir,
      dockerfilePath,
      dockerfileName,
      dockerfileContent,
      // A directory named on the command line stays; one made from stdin does not (its hashes would only pile up).
      keepContextHashes: contextArg !== '-',
      tags,
      buildArgs,
      manifestFormat,
      ...(layerCompression ? { layerCompression } : {}),
      target: flags.target,
      noCache: !flags.cache,
      noCacheFilter: flags.cacheFilter,
      network: flags.network === 'none' ? 'none' : flags.network === 'isolated' ? 'isolated' : 'host',
      sourceDateEpoch: sourceDateEpoch(buildArgs),
      memoryBytes: parseSize(flags.memory),
      pidsLimit: parsePositiveInt(flags.pidsLimit, '--pids-limit'),
      secrets,
      ...(ssh ? { sshAgents: ssh.agents } : {}),
      pull: flags.pull === true,
      labels: parseLabels(flags.label ?? []),
      buildContexts,
      cacheTo,
      cacheFrom,
      runtime,
    }, { onEvent, signal: abort.signal, tracer });
    // Writing outputs reads the image's blobs and snapshots: keep a concurrent prune off them meanwhile.
    if (outputs.length > 0) {
      await tracer.root.child('output', () => withBuildLease(store.root, async () => {
        for (const spec of outputs) await writeOutput(store, result.manifest, result.tags, spec);
      }), { args: { outputs: outputs.map((spec) => spec.type).join(',') } });
    }
    if (flags.iidfile) await writeFile(flags.iidfile, result.manifest.digest);
    if (!quiet && progress.mode !== 'rawjson') for (const tag of result.tags) process.stderr.write(`naming to ${tag} done\n`);
    const pushed = push
      ? await tracer.root.child('push', async () => (await import('./registry.js')).pushTags(store, result.tags, quiet, abort.signal, flags.progress))
      : [];
    if (flags.metadataFile) {
      const { buildMetadata, writeMetadataFile } = await import('./metadata-file.js');
      await writeMetadataFile(flags.metadataFile, await buildMetadata(store, result.manifest, result.tags, pushed));
    }
    // With `-o -` stdout carries the output itself.
    if (!outputs.some((spec) => spec.dest === '-')) process.stdout.write(`${result.manifest.digest}\n`);
    await tracer.root.child('auto gc', () => autoGcAfterBuild(store, quiet, gcLimit));
    return 0;
  } catch (err) {
    if (!signalled || !(err instanceof BuildError) || err.code !== 'CANCELLED') throw err;
    // Cleaned up after the signal: exit as a process ended by it would (SIGTERM → 143), as docker does.
    process.stderr.write(`ERROR: build cancelled (${signalled})\n`);
    return 128 + os.constants.signals[signalled];
  } finally {
    progress.stop();
    // Written whatever the outcome: the trace of a failed build shows where it failed. (No import on the
    // common path: a no-op rebuild pays for every module it loads.)
    if (flags.trace || process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
      const { finishTrace } = await import('../trace/finish.js');
      await finishTrace(tracer, { file: flags.trace, warn: (message) => process.stderr.write(`WARNING: ${message}\n`) });
    }
    await ssh?.close();
    await engine.close();
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
  }
}

/** `--runtime`, else BUILDER_RUNTIME, else `[build] runtime` of the config file (read only when needed). */
async function buildRuntime(flag: string | undefined): Promise<string> {
  const { configuredRuntime, runtimeName } = await import('../sandbox/runtime.js');
  if (flag !== undefined) return runtimeName(flag);
  if (!process.env.BUILDER_RUNTIME && !process.env.BUILDER_CONFIG) return 'runc';
  return configuredRuntime((await (await import('../config.js')).loadConfig()).raw);
}

/** Signals that cancel a build: Ctrl-C, a service manager's stop, a closed terminal. */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** SOURCE_DATE_EPOCH from `--build-arg` or the environment, as BuildKit takes it. */
function sourceDateEpoch(buildArgs: Record<string, string>): number | undefined {
  const value = buildArgs.SOURCE_DATE_EPOCH ?? process.env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new BuildError('INVALID_ARGUMENT', `invalid SOURCE_DATE_EPOCH: "${value}" (want seconds since 1970)`);
  return Number(value);
}

/** The automatic GC (BUILDER_GC_KEEP_STORAGE or `[gc] keepStorage`); a few stats when nothing was added. Never fails the build. */
async function autoGcAfterBuild(store: Store, quiet: boolean, limit: IdleTask<number | undefined>): Promise<void> {
  try {
    const keepStorage = await limit.start();
    if (keepStorage === undefined) return;
    const { autoGc } = await import('../store/gc-auto.js');
    const report = await autoGc(store, { keepStorage });
    if (report && !quiet) {
      const { formatBytes } = await import('./prune.js');
      process.stderr.write(`automatic GC: reclaimed ${formatBytes(report.reclaimed)}; store now ${formatBytes(report.sizeAfter)}\n`);
    }
  } catch (err) {
    process.stderr.write(`WARNING: automatic garbage collection failed: ${errorMessage(err)}\n`);
  }
}
