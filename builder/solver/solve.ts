import path from 'node:path';
import PQueue from 'p-queue';
import { planBuild } from '../dockerfile/plan.js';
import { checkStepCount } from '../dockerfile/limits.js';
import { readDockerfile } from '../dockerfile/read-dockerfile.js';
import type { BuildPlan, Stage } from '../dockerfile/types.js';
import { BuildError, withLocation } from '../errors.js';
import { loadIgnore } from '../context/ignore.js';
import { emptyImageConfig, cloneConfig, createdAt } from '../exec/config.js';
import type { StageOutput, StepContext } from '../exec/types.js';
import { encodeImage } from '../image/manifest.js';
import type { PushResult } from '../registry/push.js';
import { exportImage } from './export-image.js';
import { settleLayers } from '../layer/pending-layer.js';
import type { LayerCompression } from '../image/compression-options.js';
import type { Descriptor, Image, ImageConfig, Layer } from '../image/types.js';
import type { Store } from '../store/store.js';
import type { Snapshots } from '../snapshot/snapshots.js';
import type { CacheBackend } from '../../cache/backend.js';
import type { BuildSession } from './session.js';
import { digestOf } from '../../cache/key.js';
import { TraceStore } from '../../cache/explain.js';
import type { LocalBuildOptions } from './request.js';
import { stagesForTarget } from './graph.js';
import { stepName } from './progress-names.js';
import { runStage } from './stage.js';
import { NamedContexts } from './named-context.js';
import { imageResolver } from '../registry/resolve.js';
import { ContextHashCache } from '../context/hash-cache.js';

export interface BuildResult {
  manifest: Descriptor;
  config: ImageConfig;
  tags: string[];
  /** The target stage and the stages it is FROM (transitively): whose steps make the final image (`mode=min`). */
  imageStages?: number[];
  /** The pushes `options.push` asked for, one per tag. */
  pushed?: PushResult[];
  /** Cache key of the target stage's last step: the farm's push facts are filed under it (cache/shared-held.ts). */
  finalKey?: string;
  /** A pushed build's local save, finished after the result (solver/export-image.ts): its warning when it failed. */
  saved?: Promise<string | undefined>;
}

/** What a build uses that outlives it: opened once by the engine (builder/engine.ts). */
export interface SolveParts {
  store: Store;
  snapshots: Snapshots;
  cache: CacheBackend;
}

/**
 * Builds a Dockerfile into the store: plan, run the stages the target needs (independent stages at
 * once), write config + manifest, tag. Nothing is tagged unless every step succeeded. Called by the engine only.
 */
export async function solve(parts: SolveParts, options: LocalBuildOptions, session: BuildSession): Promise<BuildResult> {
  return buildImage(parts, options, session);
}

async function buildImage({ store, snapshots, cache }: SolveParts, options: LocalBuildOptions, session: BuildSession): Promise<BuildResult> {
  // Resolved inside the context like a COPY source, size-capped: a Dockerfile link cannot read the host's files.
  const root = session.tracer.root;
  const content = options.dockerfileContent
    ?? (await root.child('read Dockerfile', () => readDockerfile(options.contextDir, options.dockerfilePath, options.dockerfileName))).content;
  // One resolution per reference per build (a fresh look at the registry with --pull).
  const resolveImage = imageResolver(store, { pull: options.pull, signal: options.signal, onTransfer: session.emit });
  const named = new NamedContexts(options.buildContexts);
  // Read while the Dockerfile is planned (its reads are I/O, the plan is CPU); its errors still surface after the
  // plan's, where they did when it was read second. The catch only keeps a failed plan's unread one quiet.
  const ignoring = root.child('.dockerignore', () => loadIgnore(options.contextDir, options.dockerfilePath));
  ignoring.catch(() => undefined);
  const planSpan = root.start('plan');
  const plan = await planBuild({
    file: options.dockerfileName,
    content,
    buildArgs: options.buildArgs,
    target: options.target,
    resolveImageConfig: async (ref, line) => {
      try {
        if (named.isDirectory(ref)) return named.directoryConfig();
        // Resolving a base image may pull it: its own span under plan.
        return await planSpan.child('resolve image', async () => (await resolveImage(named.imageRef(ref))).config.config, { args: { image: ref } });
      } catch (err) {
        throw withLocation(err, options.dockerfileName, line);
      }
    },
  }).finally(() => planSpan.end());
  const traces = new TraceStore(path.join(store.cacheDir, 'traces'));
  checkStepCount(plan);
  const sourceDateEpoch = options.sourceDateEpoch ?? dockerfileEpoch(plan.sourceDateEpoch);
  session.checkCancelled();
  const ignore = await ignoring;
  const contextHashes = options.keepContextHashes ? ContextHashCache.forContext(store.cacheDir, options.contextDir) : undefined;
  const queue = new PQueue({ concurrency: options.concurrency ?? 4 });
  let stepCounter = 0;
  const nextStepId = (): string => `#${++stepCounter}`;
  const outputs = new Map<number, Promise<StageOutput>>();

  const fromSource: StepContext['fromSource'] = async (from) => {
    if ('stage' in from) return stageOutput(from.stage);
    const name = 'context' in from ? from.context : from.image;
    if ('context' in from || named.isDirectory(name)) return named.output(name, { store, snapshots, cache, session, sourceDateEpoch });
    return imageOutput(await resolveImage(named.imageRef(name)));
  };
  // The first stage that fails cancels its siblings (as BuildKit does): a failed build does not wait out the others.
  const stagesAbort = new AbortController();
  const stageSignal = options.signal ? AbortSignal.any([options.signal, stagesAbort.signal]) : stagesAbort.signal;
  const context: Omit<StepContext, 'config' | 'layers' | 'log' | 'cmdSetInStage'> = {
    store, session, snapshots, contextDir: options.contextDir, ignore, contextHashes, network: options.network, allowHostNetwork: options.allowHostNetwork, networkPolicy: options.networkPolicy, sourceDateEpoch,
    fromSource, signal: stageSignal, memoryBytes: options.memoryBytes, pidsLimit: options.pidsLimit,
    secrets: options.secrets, sshAgents: options.sshAgents, gitPolicy: options.gitPolicy, runtime: options.runtime,
  };

  const stageOutput = (index: number): Promise<StageOutput> => {
    let output = outputs.get(index);
    if (!output) {
      output = runOneStage(plan.stages[index]!);
      outputs.set(index, output);
    }
    return output;
  };
  const runOneStage = (stage: Stage): Promise<StageOutput> => {
    // One track (a row in the viewer) per stage: stages run at once, their steps do not.
    const track = stage.index + 1;
    const label = `stage ${stage.index}${stage.name ? ` (${stage.name})` : ''}`;
    session.tracer.nameTrack(track, label);
    return root.child(label, async (span) => {
      const base = await span.child('FROM', () => stageBase(plan, stage, stageOutput, fromSource, session, nextStepId), { cat: 'step', args: { step: stage.source } });
      const noCache = options.noCache || (options.noCacheFilter ?? []).some((f) => f.toLowerCase() === stage.name || f === String(stage.index));
      return runStage({ plan, stage, base, cache, noCache, traces, traceScope: options.tags[0] ?? options.contextDir, context, onEvent: session.emit, nextStepId, schedule: (task) => queue.add(task, { throwOnTimeout: true }), span });
    }, { cat: 'stage', track });
  };

  // Start every needed stage at once; each waits only for the stages it reads from.
  const needed = stagesForTarget(plan);
  let firstFailure: { reason: unknown } | undefined;
  await Promise.allSettled(needed.map((index) => stageOutput(index).catch((reason: unknown) => {
    if (!firstFailure) {
      firstFailure = { reason };
      stagesAbort.abort(reason);
    }
    throw reason;
  })));
  if (firstFailure) throw firstFailure.reason;
  try {
    contextHashes?.save();
  } catch (err) {
    session.warn(`could not keep the context's file hashes for the next build: ${err instanceof Error ? err.message : String(err)}`);
  }
  const final = await stageOutput(plan.target);
  const config = finalConfig(final.config, options.labels, sourceDateEpoch);
  const imageStages: number[] = [];
  for (let stage: Stage | undefined = plan.stages[plan.target]; stage; stage = 'stage' in stage.from ? plan.stages[stage.from.stage] : undefined) {
    imageStages.push(stage.index);
  }
  const exported = await root.child('export', async (span) => {
    // Built layers may still be compressing (exec/commit.ts): the manifest names their blobs, so it waits here.
    const finalLayers = await span.child('settle layers', () => settleLayers(final.layers));
    const layers = options.layerCompression ? await exportLayers(store, snapshots, finalLayers, options.layerCompression, plan.stages[imageStages.at(-1)!]!, fromSource) : finalLayers;
    const image = encodeImage(config, layers, options.manifestFormat);
    span.set({ manifest: image.descriptor.digest, layers: layers.length });
    return exportImage(store, session, span, image, options.tags, options.push, options.signal, options.alongsideExport && (() => options.alongsideExport!(imageStages)));
  });
  return { manifest: exported.manifest, config, tags: options.tags, imageStages, finalKey: final.key, ...(exported.pushed ? { pushed: exported.pushed } : {}), ...(exported.saved ? { saved: exported.saved } : {}) };
}

/** The final layers in the requested encoding; the root stage's base image layers count as base layers. */
async function exportLayers(
  store: Store, snapshots: Snapshots, layers: Layer[], compression: LayerCompression, root: Stage, fromSource: StepContext['fromSource'],
): Promise<Layer[]> {
  const baseLayers = 'image' in root.from ? (await fromSource({ image: root.from.image })).layers.length : 0;
  const { compressLayers } = await import('../image/layer-compression.js');
  return compressLayers(store, layers, compression, baseLayers, (layer) => snapshots.ensureBlob(layer));
}

/** `ARG SOURCE_DATE_EPOCH=<seconds>` before the first FROM is the build's default epoch (BuildKit ≥ 0.24). */
function dockerfileEpoch(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new BuildError('INVALID_ARGUMENT', `invalid SOURCE_DATE_EPOCH: ${value}`);
  return Number(value);
}

/**
 * The config written out: `created` is the last step's time, so a fully cached rebuild gives the same digest.
 * With SOURCE_DATE_EPOCH, as BuildKit's exporter: every history time after the epoch (cached steps' too) and
 * `created` become the epoch; older base image entries keep theirs.
 */
function finalConfig(config: ImageConfig, labels: Record<string, string> = {}, sourceDateEpoch?: number): ImageConfig {
  const out = cloneConfig(config);
  // `--label` applies to the final image only, after the Dockerfile's LABELs.
  if (Object.keys(labels).length > 0) out.config.Labels = { ...out.config.Labels, ...labels };
  if (sourceDateEpoch !== undefined) {
    const epoch = createdAt(sourceDateEpoch);
    const epochMs = sourceDateEpoch * 1000;
    out.history = out.history?.map((entry) => (!entry.created || Date.parse(entry.created) > epochMs ? { ...entry, created: epoch } : entry));
    out.created = epoch;
    return out;
  }
  const last = out.history?.[out.history.length - 1]?.created;
  if (last) out.created = last;
  return out;
}

async function stageBase(
  plan: BuildPlan, stage: Stage, stageOutput: (i: number) => Promise<StageOutput>, fromSource: StepContext['fromSource'],
  session: BuildSession, nextStepId: () => string,
): Promise<StageOutput> {
  const name = stepName(plan, stage, 1, stage.source);
  const stepId = nextStepId();
  const started = Date.now();
  session.emit({ type: 'step.start', stepId, name, line: stage.line, time: started });
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
  session.emit({ type: 'step.done', stepId, name, durationMs: Date.now() - started, time: Date.now() });
  return { ...base, config };
}

function imageOutput(image: Image): StageOutput {
  return { config: image.config, layers: image.layers, key: image.manifestDescriptor.digest };
}
