import { mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findExecutable, runCommand } from './proc.js';
import { unmountTree } from './scratch-fs.js';
import type { BenchTool, ToolEnv } from './tool.js';
import { summarizeTrace } from './trace-summary.js';
import { builderBin } from './builder-bin.js';

/**
 * Our own CLI as users run it (bin/builder); a cold build gets a brand-new store directory. With `runtime: 'crun'`
 * it is the `builder-crun` tool: the same CLI with BUILDER_RUNTIME=crun (the `runtime` section compares the two).
 */
export function builderTool(repoDir: string, runtime: 'runc' | 'crun' = 'runc'): BenchTool {
  const cli = builderBin(repoDir);
  let env: ToolEnv | undefined;
  let storeRoot = '';
  let generation = 0;
  /** The last traced build of each tag (`--trace`): the report says where its time went. */
  const traces = new Map<string, string>();

  const builder = (args: string[]) =>
    runCommand(cli, args, { cwd: repoDir, env: { ...process.env, BUILDER_ROOT: storeRoot, BUILDER_RUNTIME: runtime } });

  const freshStore = async (): Promise<void> => {
    if (!env) throw new Error('builder bench tool used before setup');
    await dropStore();
    storeRoot = join(env.scratchDir, 'builder', `store-${generation++}`);
    await mkdir(storeRoot, { recursive: true });
    await builder(['load', '-i', env.busyboxTar]);
  };

  const dropStore = async (): Promise<void> => {
    if (!storeRoot) return;
    // A crashed build may leave overlay mounts inside; rm must never descend into them.
    await unmountTree(storeRoot);
    await rm(storeRoot, { recursive: true, force: true });
  };

  return {
    id: runtime === 'runc' ? 'builder' : 'builder-crun',
    async unavailable() {
      if (!existsSync(cli)) return 'not built (npm run build)';
      if (!(await findExecutable(runtime))) return `${runtime} not installed`;
      const help = await runCommand(cli, ['--help'], { allowFailure: true });
      return help.exitCode === 0 ? undefined : 'CLI not ready';
    },
    async setup(toolEnv) {
      env = toolEnv;
      await freshStore();
    },
    resetCaches: freshStore,
    async build(context, tag, _jobs, options = {}) {
      if (!options.trace || !env) {
        await builder(['build', '-t', tag, '--network=host', '--progress=plain', context]);
        return;
      }
      // --trace costs one small JSON write at the end of the build (a few hundred spans), inside the timed sample.
      const trace = join(env.scratchDir, `builder-trace-${runtime}-${tag.replace(/[^A-Za-z0-9.-]+/g, '_')}.json`);
      await builder(['build', '-t', tag, '--network=host', '--progress=plain', '--trace', trace, context]);
      traces.set(tag, trace);
    },
    async runTrue() {
      await builder(['run', '--rm', 'busybox:latest', 'true']);
    },
    notes: (tags = []) => [
      runtime === 'runc'
        ? 'ours: bin/builder (the sh launcher users run: node on the CLI bundle, NODE_EXTRA_CA_CERTS deferred to the first TLS connection); store (OCI layout, gzip layers) on the scratch ext4; runc + overlayfs'
        : 'ours (crun): the same CLI with BUILDER_RUNTIME=crun (crun 1.8 in a private mount namespace without the hybrid cgroup2 mount)',
      ...tags.flatMap((tag) => {
        const file = traces.get(tag);
        const summary = file ? summarizeTrace(file) : undefined;
        return summary ? [`${runtime === 'runc' ? 'ours' : 'ours (crun)'}, last ${tag.replace(/:bench$/, '')} sample per --trace: ${summary}`] : [];
      }),
    ],
    async teardown() {
      await dropStore().catch(() => undefined);
    },
  };
}
