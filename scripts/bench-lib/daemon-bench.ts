/**
 * `builder daemon` against dockerd through the same docker CLI (`npm run bench`, section `daemon`):
 * - `docker build` no-op rebuild of bench-small: builder daemon (classic API) · dockerd legacy builder (BuildKit's
 *   no-op rebuild is in the rebuild table of the main bench, which runs it on its own dockerd)
 * - `docker run --rm --network none busybox true`: builder daemon · dockerd
 * - builder's own CLI no-op rebuild: through the warm daemon (BUILDER_HOST) · embedded (--no-daemon)
 * Each on its own store / data-root under the scratch dir; dockerd is a private one (no bridge, no iptables).
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './proc.js';
import { formatDuration, median } from './report.js';
import { builderBin } from './builder-bin.js';
import { waitForSocket } from './wait-socket.js';

const CLI = '/usr/local/bin/docker';
const SAMPLES = 5;

export interface DaemonBenchEnv {
  repoDir: string;
  scratchDir: string;
  busyboxTar: string;
  log(line: string): void;
}

async function timed(samples: number, run: () => Promise<unknown>): Promise<number> {
  await run(); // warm-up, untimed
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return median(times);
}

export async function runDaemonBench(env: DaemonBenchEnv): Promise<string> {
  const dir = join(env.scratchDir, 'daemon-bench');
  await mkdir(dir, { recursive: true });
  const cliMain = builderBin(env.repoDir);
  const context = join(env.repoDir, 'test-dockerfiles/bench-small');
  const builderRoot = join(dir, 'builder-root');
  const builderSock = join(dir, 'builder.sock');
  const dockerSock = join(dir, 'dockerd.sock');
  const dockerState = join(dir, 'dockerd-state');
  await runCommand(cliMain, ['load', '-i', env.busyboxTar], { env: { ...process.env, BUILDER_ROOT: builderRoot } });
  const daemon = spawn(cliMain, ['--root', builderRoot, 'daemon', '-H', `unix://${builderSock}`, '--log-level', 'warn'], { stdio: 'ignore' });
  try {
    await runCommand('bash', [join(env.repoDir, 'scripts/start-dockerd.sh')], {
      env: { ...process.env, DOCKERD_SOCK: dockerSock, DOCKERD_DATA_ROOT: join(dir, 'dockerd-data'), DOCKERD_EXEC_ROOT: join(dir, 'dockerd-exec'), DOCKERD_STATE_DIR: dockerState },
    });
    await waitForSocket(builderSock);
    await waitForSocket(dockerSock);
    const via = (socket: string) => ({ ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: join(dir, 'docker-config') });
    await runCommand(CLI, ['load', '-i', env.busyboxTar], { env: via(dockerSock) });
    const build = (socket: string) => () => runCommand(CLI, ['build', '-q', '-t', 'bench-small:daemon', context], { env: via(socket) });
    const run = (socket: string) => () => runCommand(CLI, ['run', '--rm', '--network', 'none', 'busybox', 'true'], { env: via(socket) });
    const builderCli = (extra: Record<string, string>, args: string[] = []) => () =>
      runCommand(cliMain, ['build', ...args, '-q', '-t', 'bench-small:daemon', context], { env: { ...process.env, ...extra } });

    env.log('daemon bench: docker build no-op rebuilds');
    const buildDaemon = await timed(SAMPLES, build(builderSock));
    const buildLegacy = await timed(SAMPLES, build(dockerSock));
    env.log('daemon bench: docker run --rm true');
    const runDaemon = await timed(SAMPLES, run(builderSock));
    const runDockerd = await timed(SAMPLES, run(dockerSock));
    env.log('daemon bench: builder CLI no-op rebuilds');
    const cliWarm = await timed(SAMPLES, builderCli({ BUILDER_HOST: `unix://${builderSock}` }));
    const cliEmbedded = await timed(SAMPLES, builderCli({ BUILDER_ROOT: builderRoot }, ['--no-daemon']));

    const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}×` : 'n/a');
    const fmt = (ms: number): string => (Number.isFinite(ms) ? formatDuration(ms) : 'failed');
    return [
      '## builder daemon vs dockerd (same docker CLI)',
      '',
      `Median of ${SAMPLES} after one untimed warm-up; both daemons on the same machine in the same run.`,
      '',
      'BuildKit\'s no-op rebuild of the same case is in the rebuild table above (its own dockerd, same machine).',
      '',
      '| case | builder daemon | dockerd | ratio |',
      '|---|---|---|---|',
      `| \`docker build\` no-op rebuild of bench-small (legacy builder, DOCKER_BUILDKIT=0) | ${fmt(buildDaemon)} | ${fmt(buildLegacy)} | ${ratio(buildDaemon, buildLegacy)} |`,
      `| \`docker run --rm --network none busybox true\` | ${fmt(runDaemon)} | ${fmt(runDockerd)} | ${ratio(runDaemon, runDockerd)} |`,
      `| \`builder build\` no-op rebuild: warm daemon (BUILDER_HOST) vs embedded (--no-daemon) | ${fmt(cliWarm)} | ${fmt(cliEmbedded)} (embedded) | ${ratio(cliWarm, cliEmbedded)} |`,
    ].join('\n');
  } finally {
    daemon.kill('SIGTERM');
    await runCommand('bash', [join(env.repoDir, 'scripts/stop-dockerd.sh')], { env: { ...process.env, DOCKERD_STATE_DIR: dockerState }, allowFailure: true });
  }
}
