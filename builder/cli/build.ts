import { writeFile } from 'node:fs/promises';
import { resolveContext } from '../context/context-dir.js';
import { BuildError } from '../errors.js';
import type { BuildEvent } from '../events.js';
import { build } from '../solver/solve.js';
import { Store } from '../store/store.js';
import { registerSource } from './excerpt.js';
import { type GlobalOptions, parseBuildArgs, parsePositiveInt, parseSize } from './options.js';
import { plainProgress } from './progress.js';

export interface BuildFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  target?: string;
  cache: boolean;
  cacheFilter?: string[];
  progress: 'auto' | 'plain' | 'tty' | 'quiet';
  network: 'host' | 'none' | 'default';
  iidfile?: string;
  quiet?: boolean;
  memory?: string;
  pidsLimit?: string;
}

/** `builder build`: progress on stderr, the image id on stdout. */
export async function buildCommand(contextArg: string, flags: BuildFlags, global: GlobalOptions): Promise<number> {
  const { contextDir, dockerfilePath, dockerfileName } = await resolveContext(contextArg, flags.file);
  registerSource(dockerfileName, dockerfilePath);
  const buildArgs = parseBuildArgs(flags.buildArg);
  const store = await Store.open(global.root);
  const quiet = flags.quiet === true || flags.progress === 'quiet';
  const onEvent: (event: BuildEvent) => void = quiet ? () => {} : plainProgress();
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await build(store, {
      contextDir,
      dockerfilePath,
      dockerfileName,
      tags: flags.tag,
      buildArgs,
      target: flags.target,
      noCache: !flags.cache,
      noCacheFilter: flags.cacheFilter,
      network: flags.network === 'none' ? 'none' : 'host',
      sourceDateEpoch: sourceDateEpoch(buildArgs),
      memoryBytes: parseSize(flags.memory),
      pidsLimit: parsePositiveInt(flags.pidsLimit, '--pids-limit'),
      onEvent,
      signal: abort.signal,
    });
    if (flags.iidfile) await writeFile(flags.iidfile, result.manifest.digest);
    if (!quiet) for (const tag of result.tags) process.stderr.write(`naming to ${tag} done\n`);
    process.stdout.write(`${result.manifest.digest}\n`);
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
