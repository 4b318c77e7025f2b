/**
 * The boundary between containers (builder/containers) and volumes (builder/volume).
 * A named volume is $BUILDER_ROOT/volumes/<name>/_data plus a record (labels, created, users).
 */

/** `-v`, `--mount` and the image's VOLUME paths, after parsing. */
export interface MountRequest {
  type: 'volume' | 'bind' | 'tmpfs';
  /** Volume name (undefined = anonymous volume) or absolute host path for bind; unused for tmpfs. */
  source?: string;
  /** Absolute path in the container. */
  target: string;
  readonly: boolean;
  /** `nocopy`: do not copy the image's files into a new empty volume. */
  nocopy?: boolean;
  /** tmpfs size/mode and bind propagation options, as mount(8) options. */
  options?: string[];
  /** Additive: a bind source that is missing is created as a directory (docker's `-v`; `--mount` refuses instead). */
  createHostDir?: boolean;
}

/** A mount ready for the runtime spec. */
export interface ResolvedMount {
  type: 'bind' | 'tmpfs';
  /** Host path (a volume's _data dir for volumes). */
  source: string;
  target: string;
  readonly: boolean;
  options?: string[];
  /** Set for volumes: docker inspect's Mounts[].Name. */
  volumeName?: string;
  anonymous?: boolean;
}

/** TSDoc contract: volumes in use by a container cannot be removed; prepare registers the container as a user. */
export interface VolumeManager {
  /**
   * Resolves a container's mounts: creates named volumes on first use and anonymous ones for VOLUME paths
   * without an explicit mount; copies the image's files at the target (read from `imageRootfs`, the
   * container's mounted rootfs) into a volume that is new and empty unless `nocopy`. Bind sources must exist.
   */
  prepare(containerId: string, requests: MountRequest[], imageRootfs: string): Promise<ResolvedMount[]>;
  /** The container is gone: unregister it; remove its anonymous volumes when `removeAnonymous` (`rm -v`, `--rm`). */
  release(containerId: string, options: { removeAnonymous: boolean }): Promise<void>;
}
