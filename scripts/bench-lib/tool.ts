/** Which build tool a column measures. */
export type ToolId = 'builder' | 'builder-crun' | 'builder-daemon' | 'buildkit' | 'buildah' | 'runc';

/** Paths every tool shares for one bench run. */
export interface ToolEnv {
  /** The repository (holds dist/builder/cli/main.js and scripts/). */
  repoDir: string;
  /** The loop-mounted scratch filesystem; each tool keeps its storage in a folder here. */
  scratchDir: string;
  /** Small runtime state (sockets, pidfiles) that must stay short-pathed; under /run. */
  runDir: string;
  /** docker-archive of busybox:latest from scripts/make-busybox.sh. */
  busyboxTar: string;
}

/**
 * One tool under benchmark. Only `build`/`runTrue` are timed; everything else is set-up.
 * Optional operations a tool cannot do are left undefined and reported as "n/a".
 */
export interface BenchTool {
  id: ToolId;
  /** Why the tool cannot take part ("not installed", ...), or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  /** Starts what the tool needs (a daemon) and loads busybox:latest into its storage. */
  setup(env: ToolEnv): Promise<void>;
  /**
   * Empties every build cache and built image so the next build is cold; busybox:latest stays. `next` names the
   * context the next build reads, for a tool that must give it a fresh copy to be cold (a daemon's by-inode hashes).
   */
  resetCaches?(next?: { context: string }): Promise<void>;
  /**
   * Builds `context`/Dockerfile as `tag`; resolves once the image is in the tool's store. `jobs` asks for that
   * many stages at once where the tool needs telling (buildah --jobs); the others always run stages in parallel.
   * `trace`: a tool that can trace its build does (ours: --trace), for the report's "where the time went".
   */
  build?(context: string, tag: string, jobs?: number, options?: { trace?: boolean }): Promise<void>;
  /** Runs `true` in a fresh busybox:latest container and removes the container. */
  runTrue?(): Promise<void>;
  /** How the tool was run (isolation, storage driver), for the report; `tags`: the images a section built. */
  notes(tags?: string[]): string[];
  /** Stops and unmounts what setup started. Never throws. */
  teardown(): Promise<void>;
}

/** Tags we built, so a reset can remove exactly those images. */
export class TagSet {
  private readonly tags = new Set<string>();
  add(tag: string): void {
    this.tags.add(tag);
  }
  drain(): string[] {
    const all = [...this.tags];
    this.tags.clear();
    return all;
  }
}
