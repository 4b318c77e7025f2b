import { join } from 'node:path';
import { findExecutable, runCommand } from './proc.js';
import { unmountTree } from './scratch-fs.js';
import { TagSet, type BenchTool, type ToolEnv } from './tool.js';

const DOCKER = '/usr/bin/docker';

/** Where the bench's own dockerd keeps its socket, exec-root and pidfile (stop-dockerd.sh reads it). */
export function benchDockerPaths(runDir: string): { sock: string; execRoot: string; stateDir: string } {
  return { sock: join(runDir, 'docker.sock'), execRoot: join(runDir, 'docker-exec'), stateDir: join(runDir, 'dockerd-state') };
}

/** Stops a bench dockerd that start-dockerd.sh started (also one left over by a crashed run). */
export async function stopBenchDockerd(repoDir: string, runDir: string): Promise<void> {
  const paths = benchDockerPaths(runDir);
  await runCommand('bash', [join(repoDir, 'scripts/stop-dockerd.sh')], {
    env: { ...process.env, DOCKERD_STATE_DIR: paths.stateDir },
    allowFailure: true,
  });
  await unmountTree(paths.execRoot);
}

/**
 * BuildKit through a SEPARATE dockerd whose data-root is on the scratch fs, so the lead's
 * daemon and its images are never touched and both tools write to the same kind of disk.
 */
export function buildkitTool(): BenchTool {
  let env: ToolEnv | undefined;
  let host = '';
  const built = new TagSet();
  const docker = (args: string[]) =>
    runCommand(DOCKER, ['-H', host, ...args], { env: { ...process.env, DOCKER_BUILDKIT: '1' } });

  return {
    id: 'buildkit',
    async unavailable() {
      if (!(await findExecutable(DOCKER)) || !(await findExecutable('dockerd'))) return 'not installed';
      if (process.getuid?.() !== 0) return 'needs root to start its own dockerd';
      return undefined;
    },
    async setup(toolEnv) {
      env = toolEnv;
      const paths = benchDockerPaths(toolEnv.runDir);
      host = `unix://${paths.sock}`;
      await runCommand('bash', [join(toolEnv.repoDir, 'scripts/start-dockerd.sh')], {
        env: {
          ...process.env,
          DOCKERD_SOCK: paths.sock,
          DOCKERD_DATA_ROOT: join(toolEnv.scratchDir, 'docker'),
          DOCKERD_EXEC_ROOT: paths.execRoot,
          DOCKERD_STATE_DIR: paths.stateDir,
        },
      });
      await docker(['load', '-i', toolEnv.busyboxTar]);
    },
    async resetCaches() {
      const tags = built.drain();
      if (tags.length > 0) await docker(['rmi', '-f', ...tags]);
      await docker(['container', 'prune', '-f']);
      await docker(['builder', 'prune', '-af']);
    },
    async build(context, tag) {
      built.add(tag);
      await docker(['build', '--network=host', '-q', '-t', tag, context]);
    },
    async runTrue() {
      await docker(['run', '--rm', '--network=none', 'busybox:latest', 'true']);
    },
    notes: () => [
      'BuildKit: DOCKER_BUILDKIT=1 /usr/bin/docker build --network=host against a separate dockerd ' +
        '(--data-root on the scratch ext4, overlay2, --bridge=none --iptables=false --ip-masq=false)',
    ],
    async teardown() {
      if (env) await stopBenchDockerd(env.repoDir, env.runDir).catch(() => undefined);
    },
  };
}
