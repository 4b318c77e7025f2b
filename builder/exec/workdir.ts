import { mkdir, chown, stat } from 'node:fs/promises';
import path, { join } from 'node:path';
import { resolveInRoot } from '../context/root-path.js';
import { prepareSnapshot } from '../snapshot/mount.js';
import { resolveChown } from '../sandbox/user.js';
import { cloneConfig, recordStep } from './config.js';
import { commitSnapshot, lowerDirs } from './commit.js';
import { workdirDirect } from './copy-direct.js';
import { applyWorkdir } from './metadata.js';
import { metadataHistoryText } from './history-text.js';
import type { StepHandler } from './types.js';
import { inSpan } from '../trace/tracer.js';

/** WORKDIR sets the config and, like BuildKit, creates the directory (owned by the current USER) if it is missing. */
export const workdir: StepHandler<'WORKDIR'> = async (step, ctx) => {
  const next = cloneConfig(ctx.config);
  applyWorkdir(next.config, step.path);
  const target = next.config.WorkingDir!;
  const lowers = await lowerDirs(ctx, ctx.layers);
  // Without a USER the directory is root's: written straight into an upperdir, no mount (exec/copy-direct.ts).
  const direct = ctx.config.config.User
    ? undefined
    : await inSpan(ctx.span, 'mkdir (no mount)', () => workdirDirect(ctx.store.tmpDir, lowers, target, join(ctx.store.cacheDir, 'dir-xattrs.json')));
  if (direct) {
    const layer = await inSpan(ctx.span, 'commit', (span) => commitSnapshot(direct, { ...ctx, span }));
    return { layer, config: recordStep(next, step.source, layer, ctx.sourceDateEpoch) };
  }
  const snapshot = await inSpan(ctx.span, 'mount', () => prepareSnapshot(ctx.store.tmpDir, lowers));
  try {
    const onDisk = await resolveInRoot(snapshot.merged, target);
    const exists = await stat(onDisk).then((s) => s.isDirectory(), () => false);
    if (!exists) {
      const firstCreated = await mkdir(onDisk, { recursive: true, mode: 0o755 });
      const user = ctx.config.config.User;
      if (user && firstCreated) {
        // BuildKit's mkdir takes the USER as llb.WithUser does (FileOp readUser, as COPY --chown: sandbox/user.ts
        // resolveChown): a numeric user is uid and gid at once (USER 1000 gives 1000:1000 whatever passwd says),
        // `root` is 0 without a passwd file, a name /etc/passwd (or a group /etc/group) lacks is 0, no error.
        const owner = await resolveChown(snapshot.merged, user);
        // BuildKit's mkdir -p chowns every directory it creates, not only the last one.
        for (let dir = onDisk; dir.length >= firstCreated.length; dir = path.dirname(dir)) await chown(dir, owner.uid, owner.gid);
      }
    }
  } catch (err) {
    await snapshot.release();
    throw err;
  }
  const layer = await inSpan(ctx.span, 'commit', (span) => commitSnapshot(snapshot, { ...ctx, span }));
  return { layer, config: recordStep(next, metadataHistoryText(step, next.config) ?? step.source, layer, ctx.sourceDateEpoch) };
};
