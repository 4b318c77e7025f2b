/**
 * The podman column of the run-side bench: Debian's podman in a private store under the bench's scratch dir (never
 * the machine's own containers-storage), images loaded from the busybox fixture tar (never pulled), containers on
 * `--network none`. A private containers.conf sets what this machine needs: runc (crun refuses hybrid cgroups
 * here), cgroupfs (no systemd), file events, and ulimits within our hard limits (podman's default nofile of 1048576
 * needs CAP_SYS_RESOURCE, which is not in this machine's bounding set).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PRIVATE_PODMAN_CONF } from './podman-conf.js';
import { findExecutable, runCommand } from './proc.js';
import { timeRunDToAnswer } from './netns-answer.js';
import { CONTAINERS, SAMPLES, WEB_IMAGE, parentPid, rssKb, samples, type Cell, type RunSideBenchEnv } from './run-side-bench.js';


/** Cells keyed as the builder column, or undefined when podman is not installed. */
export async function runPodmanSide(env: RunSideBenchEnv): Promise<Record<string, Cell> | undefined> {
  const podman = await findExecutable('podman');
  if (!podman) return undefined;
  const dir = join(env.scratchDir, 'podman');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'containers.conf'), PRIVATE_PODMAN_CONF);
  const base = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'overlay'];
  const p = (args: string[], allowFailure = false) =>
    runCommand(podman, [...base, ...args], { env: { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf') }, allowFailure });
  const cells: Record<string, Cell> = {};
  try {
    await p(['load', '-i', env.busyboxTar]);
    cells.runRm = await samples(SAMPLES, () => p(['run', '--rm', '--pull=never', '--network', 'none', 'busybox', 'true']));
    cells.runD = 'n/a (ports need a NAT bridge)';
    if (env.netnsUnavailable || !env.webTar) cells.runDNetns = env.netnsUnavailable ?? 'n/a (no web image archive)';
    else {
      await p(['load', '-i', env.webTar]);
      cells.runDNetns = await timeRunDToAnswer({
        runDetached: async () => (await p(['run', '-d', '--pull=never', '--network', 'none', WEB_IMAGE])).stdout.trim(),
        remove: (id) => p(['rm', '-f', '-t', '0', id]),
      }, SAMPLES);
    }
    const idle = (await p(['run', '-d', '--pull=never', '--network', 'none', 'busybox', 'sleep', '1000'])).stdout.trim();
    cells.exec = await samples(SAMPLES, () => p(['exec', idle, 'true']));
    const pid = Number((await p(['inspect', '-f', '{{.State.Pid}}', idle])).stdout.trim());
    cells.rss = (await rssKb(await parentPid(pid))) ?? 'n/a';
    for (let i = 1; i < CONTAINERS; i++) await p(['create', '--pull=never', '--network', 'none', 'busybox', 'true']);
    cells.ps = await samples(SAMPLES, () => p(['ps', '-a']));
  } catch (err) {
    env.log(`run-side: podman failed: ${err instanceof Error ? err.message : String(err)}`);
    for (const key of ['runRm', 'runDNetns', 'exec', 'rss', 'ps']) cells[key] ??= 'n/a (podman failed, see the log)';
  } finally {
    await p(['rm', '-af', '-t', '0'], true);
    await p(['system', 'reset', '-f'], true);
  }
  return cells;
}
