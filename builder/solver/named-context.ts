/**
 * Named build contexts (`--build-context name=dir`, `name=docker-image://ref`). The planner turns an unknown
 * `FROM name` / `--from=name` into `{ image: name }`; the solver asks here first. A directory becomes a
 * stage-like output of one layer holding its files (owned 0:0, as the main context), cached by their content,
 * so COPY --from, FROM and RUN mounts all read it the way they read any stage.
 */
import { settleLayer } from '../layer/pending-layer.js';
import type { CopyOptions, CopySource } from '../context/copy-types.js';
import { digestSources } from '../context/digest.js';
import { loadIgnore } from '../context/ignore.js';
import { emptyImageConfig } from '../exec/config.js';
import type { StageOutput } from '../exec/types.js';
import type { ContainerConfig } from '../image/types.js';
import type { Snapshots } from '../snapshot/snapshots.js';
import type { Store } from '../store/store.js';
import type { CacheBackend } from '../../cache/backend.js';
import { digestOf } from '../../cache/key.js';
import type { BuildSession } from './session.js';

/** What a `--build-context` name stands for: a local directory, or another image reference. */
export type NamedContext = { dir: string } | { image: string };

/** What turning a directory into a layer needs from the build. */
export interface NamedContextDeps {
  store: Store;
  snapshots: Snapshots;
  cache: CacheBackend;
  session: BuildSession;
  sourceDateEpoch?: number;
}

export class NamedContexts {
  private readonly outputs = new Map<string, Promise<StageOutput>>();

  constructor(private readonly contexts: Readonly<Record<string, NamedContext>> = {}) {}

  private lookup(name: string): NamedContext | undefined {
    return this.contexts[name] ?? this.contexts[name.toLowerCase()];
  }

  /** Whether `ref` names a directory context (then it is no image). */
  isDirectory(ref: string): boolean {
    const found = this.lookup(ref);
    return found !== undefined && 'dir' in found;
  }

  /** The image to use for `ref`: an override from `name=docker-image://…`, else `ref` itself. */
  imageRef(ref: string): string {
    const found = this.lookup(ref);
    return found && 'image' in found ? found.image : ref;
  }

  /** The config a stage `FROM <directory context>` starts with: empty, as BuildKit. */
  directoryConfig(): ContainerConfig {
    return emptyImageConfig().config;
  }

  /** The directory context `name` as a one-layer output (built once per build, cached across builds). */
  output(name: string, deps: NamedContextDeps): Promise<StageOutput> {
    const found = this.lookup(name);
    if (!found || !('dir' in found)) throw new Error(`"${name}" is not a directory build context`);
    let output = this.outputs.get(name);
    if (!output) {
      output = directoryOutput(found.dir, deps);
      this.outputs.set(name, output);
    }
    return output;
  }
}

async function directoryOutput(dir: string, deps: NamedContextDeps): Promise<StageOutput> {
  const source: CopySource = { root: dir, isContext: true, ignore: await loadIgnore(dir) };
  const options: CopyOptions = { sources: ['.'], dest: '/', add: false, exclude: [], parents: false };
  const key = digestOf(JSON.stringify(['builder.named-context.v1', await digestSources(source, options)]));
  const config = emptyImageConfig();
  const call = { warn: deps.session.warn, signal: deps.session.signal };
  const hit = deps.session.isBroken(key) ? undefined : await deps.cache.get(key, call);
  if (hit) {
    if (hit.layer && hit.blobSource) deps.session.remoteLayer(hit.layer, key, hit.blobSource, hit.check);
    return { config, layers: hit.layer ? [hit.layer] : [], key };
  }
  // The copier, the overlay mount and the layer writer load here only: every build imports this module.
  const [{ prepareSnapshot }, { copyInto }, { commitSnapshot }] = await Promise.all([
    import('../snapshot/mount.js'), import('../context/copy.js'), import('../exec/commit.js'),
  ]);
  const snapshot = await prepareSnapshot(deps.store.tmpDir, []);
  try {
    await copyInto(source, snapshot.merged, options);
  } catch (err) {
    await snapshot.release();
    throw err;
  }
  const committed = await commitSnapshot(snapshot, deps);
  const layer = committed && (await settleLayer(committed));
  await deps.cache.put(key, { layer, delta: {}, createdBy: `context ${dir}` }, call, layer ? deps.store.blobPath(layer.digest) : undefined);
  return { config, layers: layer ? [layer] : [], key };
}
