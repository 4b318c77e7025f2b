import { writeFile } from 'node:fs/promises';
import { BuildError, errorMessage } from '../errors.js';
import type { BuildEvent } from '../events.js';
import { build } from '../solver/solve.js';
import { withBuildLease } from '../store/gc-lease.js';
import { Store } from '../store/store.js';
import { parseBuildContexts, parseLabels, resolveBuildContext } from './build-contexts.js';
import { parseOutput, writeOutput } from './build-output.js';
import { registerSource } from './excerpt.js';
import { type GlobalOptions, parseBuildArgs, parsePositiveInt, parseSize } from './options.js';
import { plainProgress } from './progress.js';
import { loadSecrets } from './secrets.js';

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
  quiet?: boolean;
  memory?: string;
  pidsLimit?: string;
  /** `--secret id=…,src=…|env=…`, repeatable. */
  secret?: string[];
  pull?: boolean;
  push?: boolean;
  /** `--label k=v`, `--output spec`, `--build-context name=value`; each repeatable. */
  label?: string[];
  output?: string[];
  buildContext?: string[];
}

/** `builder build`: progress on stderr, the image id on stdout. */
export async function buildCommand(contextArg: string, flags: BuildFlags, global: GlobalOptions): Promise<number> {
  const { contextDir, dockerfilePath, dockerfileName } = await resolveBuildContext(contextArg, flags.file);
  const outputs = (flags.output ?? []).map(parseOutput);
  const buildContexts = await parseBuildContexts(flags.buildContext ?? []);
  registerSource(dockerfileName, dockerfilePath);
  const buildArgs = parseBuildArgs(flags.buildArg);
  const secrets = await loadSecrets(flags.secret ?? []);
  if (flags.push && flags.tag.length === 0) throw new BuildError('INVALID_ARGUMENT', '--push needs at least one -t host/repo:tag to push to');
  const store = await Store.open(global.root);
  const quiet = flags.quiet === true || flags.progress === 'quiet';
  const onEvent: (event: BuildEvent) => void = quiet ? () => {} : plainProgress();
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // build() holds a GC lease of its own while it runs.
    const result = await build(store, {
      contextDir,
      dockerfilePath,
      dockerfileName,
      tags: flags.tag,
      buildArgs,
      target: flags.target,
      noCache: !flags.cache,
      noCacheFilter: flags.cacheFilter,
      network: flags.network === 'none' ? 'none' : flags.network === 'isolated' ? 'isolated' : 'host',
      sourceDateEpoch: sourceDateEpoch(buildArgs),
      memoryBytes: parseSize(flags.memory),
      pidsLimit: parsePositiveInt(flags.pidsLimit, '--pids-limit'),
      secrets,
      onEvent,
      signal: abort.signal,
      pull: flags.pull === true,
      labels: parseLabels(flags.label ?? []),
      buildContexts,
    });
    // Writing outputs reads the image's blobs and snapshots: keep a concurrent prune off them meanwhile.
    if (outputs.length > 0) {
      await withBuildLease(store.root, async () => {
        for (const spec of outputs) await writeOutput(store, result.manifest, result.tags, spec);
      });
    }
    if (flags.iidfile) await writeFile(flags.iidfile, result.manifest.digest);
    if (!quiet) for (const tag of result.tags) process.stderr.write(`naming to ${tag} done\n`);
    if (flags.push) await (await import('./registry.js')).pushTags(store, result.tags, quiet, abort.signal);
    // With `-o -` stdout carries the output itself.
    if (!outputs.some((spec) => spec.dest === '-')) process.stdout.write(`${result.manifest.digest}\n`);
    await autoGcAfterBuild(store, quiet);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** SOURCE_DATE_EPOCH from `--build-arg` or the environment, as BuildKit takes it. */
function sourceDateEpoch(buildArgs: Record<string, string>): number | undefined {
  const value = buildArgs.SOURCE_DATE_EPOCH ?? process.env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new BuildError('INVALID_ARGUMENT', `invalid SOURCE_DATE_EPOCH: "${value}" (want seconds since 1970)`);
  return Number(value);
}

/** The automatic GC (BUILDER_GC_KEEP_STORAGE or `[gc] keepStorage`); a few stats when nothing was added. Never fails the build. */
async function autoGcAfterBuild(store: Store, quiet: boolean): Promise<void> {
  try {
    const { autoGc } = await import('../store/gc-auto.js');
    const report = await autoGc(store);
    if (report && !quiet) {
      const { formatBytes } = await import('./prune.js');
      process.stderr.write(`automatic GC: reclaimed ${formatBytes(report.reclaimed)}; store now ${formatBytes(report.sizeAfter)}\n`);
    }
  } catch (err) {
    process.stderr.write(`WARNING: automatic garbage collection failed: ${errorMessage(err)}\n`);
  }
}
