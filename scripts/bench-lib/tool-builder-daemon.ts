/**
 * Our CLI building through a warm `builder daemon` (the `builder-daemon` column of the cold builds): what BuildKit's
 * numbers are, a client handing the build to a long-lived daemon that has already built something. The daemon starts
 * untimed with its store on the scratch fs, busybox loaded (and unpacked) before it starts, one untimed warm-up build
 * of another Dockerfile (test-dockerfiles/demo: a RUN, COPY --from, a context COPY), then every sample starts cold:
 * - the built tags are removed (DELETE /images) and `builder prune -a` with no grace period deletes every cache
 *   record and every blob and snapshot no tag holds, as `docker rmi -f` + `docker builder prune -af` do for
 *   BuildKit's column;
 * - the build reads a fresh copy of its context (new path, new inodes), because the daemon keeps the content hashes
 *   of context files by inode, in memory and in the store's cache/context-hashes, and neither is build cache a
 *   prune removes; the embedded column's fresh store and fresh process have neither.
 * The daemon's own process, its JIT-compiled code, its mount helpers and its launch server stay warm: that is the
 * point of the column.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, rm } from 'node:fs/promises';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { builderBin } from './builder-bin.js';
import { runCommand } from './proc.js';
import { unmountTree } from './scratch-fs.js';
import { TagSet, type BenchTool, type ToolEnv } from './tool.js';
import { socketRequest, waitForSocket } from './wait-socket.js';

const WARM_UP = 'demo';

export function builderDaemonTool(repoDir: string): BenchTool {
  const cli = builderBin(repoDir);
  let env: ToolEnv | undefined;
  let daemon: ChildProcess | undefined;
  let dir = '';
  let socket = '';
  let root = '';
  let copies = 0;
  const built = new TagSet();
  /** The context each case names → the fresh copy the next build reads. */
  const contextCopies = new Map<string, string>();

  // BUILDER_HOST routes bin/builder's `build` to the daemon (cli/daemon-fast.ts); BUILDER_ROOT would not matter then.
  const clientEnv = (): NodeJS.ProcessEnv => {
    const { BUILDER_ROOT: _root, ...rest } = process.env;
    return { ...rest, BUILDER_HOST: `unix://${socket}` };
  };
  const build = async (context: string, tag: string): Promise<void> => {
    built.add(tag);
    await runCommand(cli, ['build', '-t', tag, '--network=host', '--progress=plain', context], { cwd: repoDir, env: clientEnv() });
  };
  const reset = async (): Promise<void> => {
    for (const tag of built.drain()) {
      const answer = await socketRequest(socket, 'DELETE', `/images/${encodeURIComponent(tag)}?force=1`);
      if (answer.status !== 200 && answer.status !== 404) throw new Error(`DELETE /images/${tag}: ${answer.status} ${answer.body}`);
    }
    // `builder prune -a` on the daemon's store rather than POST /build/prune: the API's prune keeps unreferenced blobs
    // and snapshots younger than the 10 min grace (a build in flight writes them before anything names them), and
    // the last sample's are always younger. With the daemon idle, a grace of 0 leaves only what a tag holds.
    await runCommand(cli, ['--root', root, 'prune', '-a', '-f'], { env: { ...process.env, BUILDER_GC_GRACE: '0s' } });
  };
  const stopDaemon = async (): Promise<void> => {
    const child = daemon;
    daemon = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };

  return {
    id: 'builder-daemon',
    async unavailable() {
      if (!existsSync(cli)) return 'not built (npm run build)';
      return undefined;
    },
    async setup(toolEnv) {
      env = toolEnv;
      dir = join(toolEnv.scratchDir, 'builder-daemon');
      socket = join(toolEnv.runDir, 'builder-daemon.sock');
      root = join(dir, 'store');
      await mkdir(root, { recursive: true });
      await mkdir(toolEnv.runDir, { recursive: true });
      await runCommand(cli, ['load', '-i', toolEnv.busyboxTar], { env: { ...process.env, BUILDER_ROOT: root } });
      const log = openSync(join(dir, 'daemon.log'), 'a');
      try {
        daemon = spawn(cli, ['--root', root, 'daemon', '-H', `unix://${socket}`, '--log-level', 'warn'], { stdio: ['ignore', log, log] });
      } finally {
        closeSync(log);
      }
      await waitForSocket(socket);
      await build(join(repoDir, 'test-dockerfiles', WARM_UP), `${WARM_UP}:bench-warm-up`);
      await reset();
    },
    async resetCaches(next) {
      if (!env) throw new Error('builder-daemon bench tool used before setup');
      await reset();
      for (const copy of contextCopies.values()) await rm(copy, { recursive: true, force: true });
      contextCopies.clear();
      if (next) {
        const copy = join(dir, `context-${copies++}`);
        await cp(next.context, copy, { recursive: true, preserveTimestamps: true });
        contextCopies.set(next.context, copy);
      }
    },
    async build(context, tag) {
      await build(contextCopies.get(context) ?? context, tag);
    },
    notes: () => [
      'ours via a warm daemon: bin/builder build with BUILDER_HOST=unix://… (the short path to `builder daemon`, the context ' +
        'named by path), the daemon started untimed with its store on the scratch ext4 and warmed by one build of ' +
        `test-dockerfiles/${WARM_UP}; before each sample its tags are removed (DELETE /images) and \`builder prune -a\` ` +
        '(BUILDER_GC_GRACE=0s) deletes every cache record, blob and snapshot no tag holds, and the build reads a fresh copy of its context ' +
        '(the daemon keeps context hashes by inode across prunes); not traced (--trace builds in the CLI)',
    ],
    async teardown() {
      await stopDaemon().catch(() => undefined);
      if (!dir) return;
      await unmountTree(dir).catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      await rm(socket, { force: true }).catch(() => undefined);
    },
  };
}
