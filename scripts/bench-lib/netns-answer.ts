/**
 * `run -d` to its first HTTP answer, measured the same way for builder, docker and podman within the network rule:
 * every tool runs the web image detached with `--network none`, the harness finds the web server's pid itself (the
 * newest `httpd` process: the same lookup for every tool, where each tool's own `inspect` would add a Node start to
 * our column and a Go start to theirs), then polls http://127.0.0.1:80/ from INSIDE that container's network
 * namespace (`nsenter -t PID -n curl`). Nothing leaves the namespace's own loopback, so no peer needs a NAT bridge
 * for its published ports, and all three columns pay the same costs: the `run -d` command, the lookup, the polling.
 */
import { findExecutable, runCommand } from './proc.js';
import { samples } from './run-side-bench.js';

/** One tool's side of the measurement: start the web container, give its pid, remove it. */
export interface DetachedWeb {
  /** Runs `run -d --network none <web image>` and returns whatever names the container (id or name). */
  runDetached(): Promise<string>;
  remove(container: string): Promise<unknown>;
}

// The loop runs in ONE nsenter'd shell rather than one spawn per try from Node: a spawn from a busy Node costs
// several ms, which would blur the first answer for all three tools alike. curl's -m bounds one try.
const POLL = 'i=0; until curl -s -f -o /dev/null -m 1 http://127.0.0.1:80/; do i=$((i+1)); ' +
  '[ "$i" -gt 4000 ] && exit 1; sleep 0.005; done';

/** Why the netns probe cannot run here, or undefined when it can. */
export async function netnsProbeUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'n/a (nsenter into a container needs root)';
  for (const tool of ['nsenter', 'curl']) if (!(await findExecutable(tool))) return `n/a (${tool} not installed)`;
  return undefined;
}

/** Waits until the web server in the network namespace of `pid` answers 200 on its own 127.0.0.1:80. */
export async function untilAnswerInNetns(pid: number): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no running container process (pid ${pid})`);
  const result = await runCommand('nsenter', ['-t', String(pid), '-n', 'sh', '-c', POLL], { allowFailure: true, timeoutMs: 30_000 });
  if (result.exitCode !== 0) throw new Error(`nothing answered on 127.0.0.1:80 inside the namespace of pid ${pid}`);
}

/** Median ms from the start of `run -d` to the first answer, over `count` fresh containers (each removed after). */
export async function timeRunDToAnswer(tool: DetachedWeb, count: number): Promise<number> {
  let last: string | undefined;
  return samples(count, async () => {
    last = await tool.runDetached();
    try {
      await untilAnswerInNetns(await newestWebServerPid());
    } catch (err) {
      await tool.remove(last).catch(() => undefined);
      throw err;
    }
  }, async () => {
    if (last !== undefined) await tool.remove(last);
    last = undefined;
  });
}

/**
 * The newest `httpd` process on the machine: the container just started (samples run one at a time and each removes
 * its container). `run -d` may return before the image's process has exec'd, so the lookup waits for it (bounded).
 */
async function newestWebServerPid(): Promise<number> {
  const result = await runCommand('sh', ['-c', 'i=0; until p=$(pgrep -n -x httpd); do i=$((i+1)); [ "$i" -gt 5000 ] && exit 1; sleep 0.002; done; echo "$p"'],
    { allowFailure: true, timeoutMs: 30_000 });
  if (result.exitCode !== 0) throw new Error('no httpd process appeared after run -d');
  return Number(result.stdout.trim());
}
