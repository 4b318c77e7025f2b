import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable, runCommand } from './proc.js';
import { unmountTree } from './scratch-fs.js';
import { TagSet, type BenchTool } from './tool.js';

type Isolation = 'oci' | 'chroot';

/** buildah with its storage (--root) on the scratch fs; prefers runc isolation, falls back to chroot. */
export function buildahTool(): BenchTool {
  let root = '';
  let runRoot = '';
  let isolation: Isolation = 'oci';
  const built = new TagSet();
  const buildah = (args: string[], allowFailure = false) =>
    runCommand('buildah', ['--root', root, '--runroot', runRoot, '--storage-driver', 'overlay', ...args], { allowFailure });

  // Whether a container actually runs under this isolation on this machine.
  const probe = async (mode: Isolation): Promise<boolean> => {
    const from = await buildah(['from', '--pull=never', 'docker.io/library/busybox:latest']);
    const container = from.stdout.trim();
    const ran = await buildah(['run', `--isolation=${mode}`, '--network=host', container, 'true'], true);
    await buildah(['rm', container], true);
    return ran.exitCode === 0;
  };

  return {
    id: 'buildah',
    async unavailable() {
      if (!(await findExecutable('buildah')) || !(await findExecutable('skopeo'))) return 'not installed';
      if (process.getuid?.() !== 0) return 'needs root (rootful storage on the scratch fs)';
      return undefined;
    },
    async setup(env) {
      root = join(env.scratchDir, 'buildah');
      runRoot = join(env.runDir, 'buildah-run');
      await runCommand('skopeo', [
        'copy', '-q', `docker-archive:${env.busyboxTar}`,
        `containers-storage:[overlay@${root}+${runRoot}]docker.io/library/busybox:latest`,
      ]);
      if (!(await probe('oci'))) {
        if (!(await probe('chroot'))) throw new Error('buildah cannot run containers with --isolation=oci or chroot here');
        isolation = 'chroot';
      }
    },
    async resetCaches() {
      await buildah(['rm', '-a'], true);
      const tags = built.drain();
      if (tags.length > 0) await buildah(['rmi', '-f', ...tags], true);
      await buildah(['rmi', '--prune'], true);
    },
    async build(context, tag, jobs) {
      built.add(tag);
      const parallel = jobs === undefined ? [] : [`--jobs=${jobs}`];
      await buildah(['build', `--isolation=${isolation}`, '--layers', '--network=host', ...parallel, '-q', '-t', tag, context]);
    },
    notes: () => [
      `buildah: buildah build --isolation=${isolation} --network=host --layers (storage: overlay on the scratch ext4)`,
    ],
    async teardown() {
      if (!root) return;
      await buildah(['rm', '-a'], true).catch(() => undefined);
      await unmountTree(root).catch(() => undefined);
      await unmountTree(runRoot).catch(() => undefined);
      await rm(runRoot, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
