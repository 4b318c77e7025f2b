/**
 * The run side (`npm run bench`, section `run-side`; `--only run-side` runs it alone): builder against docker
 * (the dockerd already running on this machine, when there is one) on
 * - `run --rm busybox true` (foreground, the direct path);
 * - `run -d` of a busybox httpd image to its first HTTP answer on a published 127.0.0.1 port (builder only: the
 *   peers' published ports need a NAT bridge, which the network rule forbids);
 * - `run -d --network none` of the same image to its first HTTP answer from inside the container's network
 *   namespace (netns-answer.ts), the same way for all three tools;
 * - `exec true` in a running container;  `ps -a` with 50 containers;
 * - RSS of an idle detached container's monitor (conmon for builder, containerd-shim-runc-v2 for docker).
 * The web image is built once by builder and `save`d to a tar that docker and podman `load`, so all three run the
 * same bytes.
 * podman is the third column (run-side-podman.ts).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fetchPage, freePort } from '../../test/helpers/http-probe.js';
import { runPodmanSide } from './run-side-podman.js';
import { findExecutable, runCommand } from './proc.js';
import { formatDuration, median } from './report.js';
import { builderBin } from './builder-bin.js';
import { netnsProbeUnavailable, timeRunDToAnswer } from './netns-answer.js';

export interface RunSideBenchEnv {
  repoDir: string;
  scratchDir: string;
  busyboxTar: string;
  /** The web image as an archive builder saved (set by runRunSideBench for the peers' columns). */
  webTar?: string;
  /** Why the in-namespace probe cannot run here (then the netns row is n/a for all). */
  netnsUnavailable?: string;
  log(line: string): void;
}

export const CONTAINERS = 50;
export const SAMPLES = 5;
const LABEL = 'builder.bench=run-side';
/** The web image's name in every tool's store (docker's is the machine's shared dockerd: removed after). */
export const WEB_IMAGE = 'bench-web';

async function untilAnswer(port: number, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while ((await fetchPage(port, 500)) === undefined) {
    if (Date.now() > deadline) throw new Error(`nothing answered on 127.0.0.1:${port}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function samples(count: number, fn: () => Promise<unknown>, between?: () => Promise<unknown>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    values.push(await timeMs(fn));
    await between?.();
  }
  return median(values);
}

export async function rssKb(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) : undefined;
}

export async function parentPid(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

export type Cell = number | string;

/** Runs the section and returns its BENCHMARKS.md body (without markers). */
export async function runRunSideBench(env: RunSideBenchEnv): Promise<string> {
  const root = join(env.scratchDir, 'run-side');
  const context = join(env.scratchDir, 'run-side-web');
  await mkdir(context, { recursive: true });
  await writeFile(join(context, 'Dockerfile'), 'FROM busybox\nRUN mkdir -p /www && echo ok > /www/index.html\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n');
  const cli = builderBin(env.repoDir);
  const builder = (args: string[], allowFailure = false) =>
    runCommand(cli, args, { env: { ...process.env, BUILDER_ROOT: root }, allowFailure });
  await builder(['load', '-i', env.busyboxTar]);
  await builder(['build', '-q', '-t', WEB_IMAGE, context]);
  const webTar = join(env.scratchDir, 'run-side-web.tar');
  await builder(['save', '-o', webTar, WEB_IMAGE]);
  const netnsUnavailable = await netnsProbeUnavailable();
  const peerEnv: RunSideBenchEnv = { ...env, webTar, netnsUnavailable };
  const ours: Record<string, Cell> = {};
  const theirs: Record<string, Cell> = {};

  ours.runRm = await samples(SAMPLES, () => builder(['run', '--rm', 'busybox', 'true']));
  ours.runD = await samples(SAMPLES, async () => {
    const port = await freePort();
    await builder(['run', '-d', '--name', 'bench-web', '-p', `127.0.0.1:${port}:80`, 'bench-web']);
    await untilAnswer(port);
  }, () => builder(['rm', '-f', 'bench-web']));
  ours.runDNetns = netnsUnavailable ?? await timeRunDToAnswer({
    runDetached: async () => (await builder(['run', '-d', '--network', 'none', WEB_IMAGE])).stdout.trim(),
    remove: (id) => builder(['rm', '-f', id]),
  }, SAMPLES);
  await builder(['run', '-d', '--name', 'bench-idle', '--network', 'none', 'busybox', 'sleep', '1000']);
  ours.exec = await samples(SAMPLES, () => builder(['exec', 'bench-idle', 'true']));
  const inspect = JSON.parse((await builder(['inspect', 'bench-idle'])).stdout) as { Id: string }[];
  const monitorPid = Number(await readFile(join(root, 'containers', inspect[0]!.Id, 'conmon.pid'), 'utf8'));
  ours.rss = (await rssKb(monitorPid)) ?? 'n/a';
  for (let i = 1; i < CONTAINERS; i++) await builder(['create', '--label', LABEL, '--network', 'none', 'busybox', 'true']);
  ours.ps = await samples(SAMPLES, () => builder(['ps', '-a']));
  for (const id of (await builder(['ps', '-aq'])).stdout.split('\n').filter(Boolean)) await builder(['rm', '-f', id], true);

  const docker = await findExecutable('docker');
  const dockerUp = docker !== undefined && (await runCommand(docker, ['info'], { allowFailure: true })).exitCode === 0
    && (await runCommand(docker, ['image', 'inspect', 'busybox'], { allowFailure: true })).exitCode === 0;
  if (docker && dockerUp) {
    const d = (args: string[], allowFailure = false) => runCommand(docker, args, { allowFailure });
    theirs.runRm = await samples(SAMPLES, () => d(['run', '--rm', '--network', 'none', 'busybox', 'true']));
    const bridge = (await d(['network', 'inspect', 'bridge'], true)).exitCode === 0;
    theirs.runD = bridge ? 'n/a (bench uses --network none for peers)' : 'n/a (dockerd without a bridge, by the network rule)';
    if (netnsUnavailable) theirs.runDNetns = netnsUnavailable;
    else {
      await d(['load', '-i', webTar]);
      try {
        theirs.runDNetns = await timeRunDToAnswer({
          runDetached: async () => (await d(['run', '-d', '--label', LABEL, '--network', 'none', WEB_IMAGE])).stdout.trim(),
          remove: (id) => d(['rm', '-f', id]),
        }, SAMPLES);
      } finally {
        await d(['rmi', WEB_IMAGE], true);
      }
    }
    const idle = (await d(['run', '-d', '--label', LABEL, '--network', 'none', 'busybox', 'sleep', '1000'])).stdout.trim();
    theirs.exec = await samples(SAMPLES, () => d(['exec', idle, 'true']));
    const pid = Number((await d(['inspect', '-f', '{{.State.Pid}}', idle])).stdout.trim());
    theirs.rss = (await rssKb(await parentPid(pid))) ?? 'n/a';
    for (let i = 1; i < CONTAINERS; i++) await d(['create', '--label', LABEL, '--network', 'none', 'busybox', 'true']);
    theirs.ps = await samples(SAMPLES, () => d(['ps', '-a', '--filter', `label=${LABEL}`]));
    const ids = (await d(['ps', '-aq', '--filter', `label=${LABEL}`])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await d(['rm', '-f', ...ids], true);
  }

  const podman = await runPodmanSide(peerEnv);

  const cell = (value: Cell | undefined, unit: 'ms' | 'kb', missing = 'n/a (docker not running)'): string => {
    if (value === undefined) return missing;
    if (typeof value === 'string') return value;
    return unit === 'kb' ? `${(value / 1024).toFixed(1)} MB` : formatDuration(value);
  };
  const rows: [string, string, 'ms' | 'kb'][] = [
    ['`run --rm busybox true`', 'runRm', 'ms'], ['`run -d` web → first HTTP answer (127.0.0.1 port)', 'runD', 'ms'],
    ['`run -d --network none` web → first HTTP answer (inside its netns)', 'runDNetns', 'ms'],
    ['`exec true` in a running container', 'exec', 'ms'], [`\`ps -a\` with ${CONTAINERS} containers`, 'ps', 'ms'],
    ['RSS of an idle container\'s monitor', 'rss', 'kb'],
  ];
  env.log(`run-side: ${JSON.stringify({ ours, theirs, podman })}`);
  return [
    '## Run side: containers',
    '',
    'builder (conmon monitor, runc) against docker (dockerd + containerd + runc) on this machine; median of ' +
      `${SAMPLES} samples, each a full CLI invocation. Monitor RSS: conmon vs containerd-shim-runc-v2.`,
    '',
    'podman (Debian\'s 4.3, its own conmon, runc: crun refuses this machine\'s hybrid cgroups) runs in a private store',
    'with `--network none`; its ports need a NAT bridge, which the network rule forbids, so `run -d -p` to an answer is n/a.',
    '',
    'The netns row is the same for all three: `run -d --network none` of the web image (built by builder, `save`d,',
    '`load`ed by the peers), `inspect -f {{.State.Pid}}`, then `nsenter -t PID -n curl http://127.0.0.1:80/` polled',
    'every 5 ms until it answers; timed from the start of `run -d`; each container removed after.',
    '',
    '| case | builder | docker | podman |',
    '| --- | --- | --- | --- |',
    ...rows.map(([title, key, unit]) => `| ${title} | ${cell(ours[key], unit)} | ${docker && dockerUp ? cell(theirs[key], unit) : 'n/a (docker not running)'} | ${cell(podman?.[key], unit, 'n/a (podman not installed)')} |`),
  ].join('\n');
}
