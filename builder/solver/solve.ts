import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import PQueue from 'p-queue';
import { planBuild } from '../dockerfile/plan.js';
import type { BuildPlan, Stage } from '../dockerfile/types.js';
import { BuildError, withLocation } from '../errors.js';
import { loadIgnore } from '../context/ignore.js';
import { emptyImageConfig, cloneConfig } from '../exec/config.js';
import type { StageOutput, StepContext } from '../exec/types.js';
import { writeImage } from '../image/manifest.js';
import type { Descriptor, Image, ImageConfig } from '../image/types.js';
import { Snapshots } from '../snapshot/snapshots.js';
import type { Store } from '../store/store.js';
import { LocalCache } from '../../cache/local.js';
import { digestOf } from '../../cache/key.js';
import { TraceStore } from '../../cache/explain.js';
import type { LocalBuildOptions } from './request.js';
import { stagesForTarget } from './graph.js';
import { stepName } from './progress-names.js';
import { runStage } from './stage.js';
import { NamedContexts } from './named-context.js';
import { releaseRemoteFetches } from '../exec/add-remote.js';
import { imageResolver } from '../registry/resolve.js';
import { withBuildLease } from '../store/gc-lease.js';

export interface BuildResult {
  manifest: Descriptor;
  config: ImageConfig;
  tags: string[];
}

/**
 * Builds a Dockerfile into the store: plan, run the stages the target needs (independent stages at
 * once), write config + manifest, tag. Nothing is tagged unless every step succeeded.
 */
export async function build(store: Store, options: LocalBuildOptions): Promise<BuildResult> {
  const started = Date.now();
  try {
    // The lease keeps a concurrent `builder prune` from deleting blobs or snapshots this build is using.
    const result = await withBuildLease(store.root, () => buildImage(store, options));
    options.onEvent({ type: 'build.done', imageDigest: result.manifest.digest, durationMs: Date.now() - started, time: Date.now() });
    return result;
  } catch (err) {
    const error = err instanceof BuildError ? err : new BuildError('INTERNAL', String(err), { cause: err });
    options.onEvent({ type: 'build.done', durationMs: Date.now() - started, time: Date.now(), error: { code: error.code, message: error.message, line: error.line } });
    throw error;
  }
}

async function buildImage(store: Store, options: LocalBuildOptions): Promise<BuildResult> {
  const content = await readFile(options.dockerfilePath, 'utf8');
  const named = new NamedContexts(options.buildContexts);
  const plan = await planBuild({
    file: options.dockerfileName,
    content,
    buildArgs: options.buildArgs,
    target: options.target,
    resolveImageConfig: async (ref, line) => {
      try {
        if (named.isDirectory(ref)) return named.directoryConfig();
        return (await resolveImage(store, named.imageRef(ref), options)).config.config;
      } catch (err) {
        throw withLocation(err, options.dockerfileName, line);
      }
    },
  });
  const snapshots = new Snapshots(store.snapshotsDir, store.tmpDir, (digest) => store.blobPath(digest));
  const cache = new LocalCache(
    store.cacheDir,
    (digest) => stat(store.blobPath(digest)).then((s) => s.size, () => undefined),
    (message) => process.stderr.write(`WARNING: ${message}\n`),
  );
  const traces = new TraceStore(path.join(store.cacheDir, 'traces'));
  const ignore = await loadIgnore(options.contextDir, options.dockerfilePath);
  const queue = new PQueue({ concurrency: options.concurrency ?? 4 });
  let stepCounter = 0;
  const nextStepId = (): string => `#${++stepCounter}`;
  const outputs = new Map<number, Promise<StageOutput>>();

  const fromSource: StepContext['fromSource'] = async (from) => {
    if ('stage' in from) return stageOutput(from.stage);
    const name = 'context' in from ? from.context : from.image;
    if ('context' in from || named.isDirectory(name)) return named.output(name, { store, snapshots, cache, sourceDateEpoch: options.sourceDateEpoch });
    return imageOutput(await resolveImage(store, named.imageRef(name), options));
  };
  const context: Omit<StepContext, 'config' | 'layers' | 'log' | 'cmdSetInStage'> = {
    store, snapshots, contextDir: options.contextDir, ignore, network: options.network, allowHostNetwork: options.allowHostNetwork, networkPolicy: options.networkPolicy, sourceDateEpoch: options.sourceDateEpoch,
    fromSource, signal: options.signal, memoryBytes: options.memoryBytes, pidsLimit: options.pidsLimit,
    secrets: options.secrets,
  };

  const stageOutput = (index: number): Promise<StageOutput> => {
    let output = outputs.get(index);
    if (!output) {
      output = runOneStage(plan.stages[index]!);
      outputs.set(index, output);
    }
    return output;
  };
  const runOneStage = async (stage: Stage): Promise<StageOutput> => {
    const base = await stageBase(plan, stage, stageOutput, fromSource, options, nextStepId);
    const noCache = options.noCache || (options.noCacheFilter ?? []).some((f) => f.toLowerCase() === stage.name || f === String(stage.index));
    return runStage({ plan, stage, base, cache, noCache, traces, traceScope: options.tags[0] ?? options.contextDir, context, onEvent: options.onEvent, nextStepId, schedule: (task) => queue.add(task, { throwOnTimeout: true }) });
  };

  // Start every needed stage at once; each waits only for the stages it reads from.
  const needed = stagesForTarget(plan);
  const settled = await Promise.allSettled(needed.map((index) => stageOutput(index)));
  await releaseRemoteFetches(snapshots);
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
  const final = await stageOutput(plan.target);
  const config = finalConfig(final.config, options.labels);
  const manifest = await writeImage(store, config, final.layers);
  for (const tag of options.tags) await store.tag(tag, manifest);
  return { manifest, config, tags: options.tags };
}

/** The config written out: `created` is the last step's time, so a fully cached rebuild gives the same digest. */
function finalConfig(config: ImageConfig, labels: Record<string, string> = {}): ImageConfig {
  const out = cloneConfig(config);
  // `--label` applies to the final image only, after the Dockerfile's LABELs.
  if (Object.keys(labels).length > 0) out.config.Labels = { ...out.config.Labels, ...labels };
  const last = out.history?.[out.history.length - 1]?.created;
  if (last) out.created = last;
  return out;
}

async function stageBase(
  plan: BuildPlan, stage: Stage, stageOutput: (i: number) => Promise<StageOutput>, fromSource: StepContext['fromSource'],
  options: LocalBuildOptions, nextStepId: () => string,
): Promise<StageOutput> {
  const name = stepName(plan, stage, 1, stage.source);
  const stepId = nextStepId();
  const started = Date.now();
  options.onEvent({ type: 'step.start', stepId, name, line: stage.line, time: started });
  let base: StageOutput;
  try {
    if ('scratch' in stage.from) base = { config: emptyImageConfig(), layers: [], key: digestOf('scratch') };
    else if ('stage' in stage.from) base = await stageOutput(stage.from.stage);
    else base = await fromSource({ image: stage.from.image }); // an image, or a named build context
  } catch (err) {
    throw withLocation(err, plan.file, stage.line);
  }
  // ONBUILD triggers run in this stage (the planner inserted them) and are not inherited further.
  const config = cloneConfig(base.config);
  delete config.config.OnBuild;
  options.onEvent({ type: 'step.done', stepId, name, durationMs: Date.now() - started, time: Date.now() });
  return { ...base, config };
}

function imageOutput(image: Image): StageOutput {
  return { config: image.config, layers: image.layers, key: image.manifestDescriptor.digest };
}

const resolvers = new WeakMap<LocalBuildOptions, (ref: string) => Promise<Image>>();

/** The store's image, else a pull (always a fresh look with `pull`); one resolution per reference per build. */
async function resolveImage(store: Store, ref: string, options: LocalBuildOptions): Promise<Image> {
  let resolver = resolvers.get(options);
  if (!resolver) {
    resolver = imageResolver(store, { pull: options.pull, signal: options.signal });
    resolvers.set(options, resolver);
  }
  return resolver(ref);
}
