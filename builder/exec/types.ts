import type { Step, StepOp } from '../dockerfile/types.js';
import type { ImageConfig, Layer } from '../image/types.js';
import type { Store } from '../store/store.js';
import type { Snapshots } from '../snapshot/snapshots.js';
import type { IgnoreMatcher } from '../context/ignore.js';
import type { ContextHashCache } from '../context/hash-cache.js';
import type { BuildSession } from '../solver/session.js';
import type { GitPolicy } from '../git-policy.js';
import type { BuildNetworkMode, BuildNetworkPolicy } from '../network/build-network.js';
import type { Span } from '../trace/tracer.js';

/** A stage's filesystem as seen from another stage (`COPY --from`): its layers, bottom first. */
export interface StageOutput {
  config: ImageConfig;
  layers: Layer[];
  /** Cache key of the stage's last step: equal keys mean equal content. */
  key: string;
}

/** Everything a step handler may use. Handlers throw plain errors; the solver adds the Dockerfile location. */
export interface StepContext {
  store: Store;
  /** The build this step belongs to: memos, cleanups, warnings. */
  session: BuildSession;
  snapshots: Snapshots;
  /** Image config before this step. */
  config: ImageConfig;
  /** Layers before this step, bottom first. */
  layers: Layer[];
  contextDir: string;
  ignore: IgnoreMatcher;
  /** The context's content hashes kept between builds (context/hash-cache.ts); the build saves them at its end. */
  contextHashes?: ContextHashCache;
  /** RUN's default network; `isolated` is the build network (builder/network/build-network.ts). */
  network: BuildNetworkMode;
  /** `RUN --network=host` when the default is not host: the farm's entitlement (BuildKit's network.host). Default true. */
  allowHostNetwork?: boolean;
  /** Allow/deny CIDRs of the isolated build network. */
  networkPolicy?: BuildNetworkPolicy;
  sourceDateEpoch?: number;
  /** Output of a RUN, streamed as it comes. */
  log(stream: 'stdout' | 'stderr', data: Buffer): void;
  /** Resolves `--from` sources: an earlier stage's output, or an image from the store. */
  fromSource(from: { stage: number } | { image: string } | { context: string }): Promise<StageOutput>;
  /** Whether CMD was set earlier in this stage (a later ENTRYPOINT then keeps it, as BuildKit does). */
  cmdSetInStage: boolean;
  signal?: AbortSignal;
  memoryBytes?: number;
  pidsLimit?: number;
  /** Build secrets by id (`--secret`), for `RUN --mount=type=secret`; never part of a cache key. */
  secrets?: ReadonlyMap<string, Buffer>;
  /**
   * SSH agent sockets by id (`--ssh`), for `RUN --mount=type=ssh`; never part of a cache key. Undefined when the
   * build was given no `--ssh` at all (BuildKit's words for a required mount differ between the two cases).
   */
  sshAgents?: ReadonlyMap<string, string>;
  /** Which git URLs `ADD <git url>` may fetch; the farm passes its [git] policy, the CLI allows all. */
  gitPolicy?: GitPolicy;
  /** The step's execution span: handlers add their phases (mount, runtime create/start, layer, commit) under it. */
  span?: Span;
  /** The OCI runtime for RUN steps (`--runtime`, `[build] runtime`, BUILDER_RUNTIME): runc by default. */
  runtime?: string;
}

export interface StepResult {
  /** The layer the step added; absent for metadata-only steps and empty diffs. */
  layer?: Layer;
  config: ImageConfig;
}

/** The step type(s) whose `op` can be K (CopyStep serves both COPY and ADD). */
export type StepOf<K extends StepOp> = Step extends infer S ? (S extends { op: infer O } ? (K extends O ? S : never) : never) : never;

export type StepHandler<K extends StepOp> = (step: StepOf<K>, ctx: StepContext) => Promise<StepResult>;

/** The parts of a step's cache key that come from outside the image (context files, other stages). */
export interface StepInputs {
  digest: string;
  /** Per-file records behind the digest, kept to explain a later cache miss. */
  files?: Record<string, string>;
}

export type InputsDigester<K extends StepOp> = (step: StepOf<K>, ctx: StepContext) => Promise<StepInputs | undefined>;
