import type { LayerCompression } from '../image/compression-options.js';
import type { ManifestFormat } from '../image/media-types.js';
import type { NamedContext } from './named-context.js';
import type { BuildPushOptions } from './export-image.js';
import type { GitPolicy } from '../git-policy.js';
import type { BuildNetworkMode, BuildNetworkPolicy } from '../network/build-network.js';

/** A build of a local context directory: what the CLI sends, and what a worker makes of a BuildRequest. */
export interface LocalBuildOptions {
  contextDir: string;
  dockerfilePath: string;
  /** Shown in errors: `Dockerfile:7: ...`. */
  dockerfileName: string;
  /**
   * The Dockerfile's text when the front door already read it from `dockerfilePath` with readDockerfile (the CLI
   * does, for error excerpts): the build then does not read it a second time.
   */
  dockerfileContent?: string;
  /**
   * Keep the context files' content hashes between builds (context/hash-cache.ts): for a directory that stays, as the
   * CLI's. Off for a context extracted for one build (the daemon's and the farm's uploads), whose inodes never return.
   */
  keepContextHashes?: boolean;
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  noCache: boolean;
  /** Stages (names or indexes) that run without the cache, like `--no-cache-filter`. */
  noCacheFilter?: string[];
  network: BuildNetworkMode;
  /** See StepContext.allowHostNetwork. */
  allowHostNetwork?: boolean;
  networkPolicy?: BuildNetworkPolicy;
  /** Clamp timestamps for reproducible images (SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
  /** How many RUN/COPY steps of independent stages may execute at once. */
  concurrency?: number;
  memoryBytes?: number;
  pidsLimit?: number;
  /** Build secrets by id (`--secret id=…`), seen only by `RUN --mount=type=secret`. */
  secrets?: ReadonlyMap<string, Buffer>;
  /** SSH agent sockets by id (`--ssh id=…`), seen only by `RUN --mount=type=ssh`. */
  sshAgents?: ReadonlyMap<string, string>;
  /** `--label`: added to the final image's config labels. */
  labels?: Record<string, string>;
  /** `--build-context name=…`: names that FROM / --from resolve to before images. */
  buildContexts?: Record<string, NamedContext>;
  /** Set by the engine from `build(request, { signal })`. */
  signal?: AbortSignal;
  /** The manifest's media-type family: OCI (default) or Docker v2 schema 2 (`oci-mediatypes=false`). */
  manifestFormat?: ManifestFormat;
  /** `--output …,compression=…`: the layers' encoding in the written image (default: the gzip they are built with). */
  layerCompression?: LayerCompression;
  /** Re-check base image tags against their registries (`--pull`); missing base images are always pulled. */
  pull?: boolean;
  /** Which git URLs `ADD <git url>` may fetch (default: any; the farm passes its [git] policy). */
  gitPolicy?: GitPolicy;
  /**
   * Push every tag when the image is made, beside writing it (the farm worker's `push: true`); the result's `pushed`
   * says what each push did. Without it the caller pushes afterwards (`builder build --push`).
   */
  push?: BuildPushOptions;
  /**
   * Work that runs beside the tag and the push once the image is made and its cache checks passed, given the image's
   * stages (the engine's `--cache-to` exports). Awaited before the build returns; it reports its own failures.
   */
  alongsideExport?: (imageStages: number[]) => Promise<void>;
  /**
   * The caller removes the context directory when the build ends (a farm job's extracted upload, the daemon's): the
   * engine then forgets what it memoized about its files (builder/context/digest.ts), which a long-lived process
   * would otherwise keep for every build.
   */
  ephemeralContext?: boolean;
  /** OCI runtime for RUN steps (`runc`, the default, or `crun`); see builder/sandbox/runtime.ts. */
  runtime?: string;
}
