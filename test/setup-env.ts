/**
 * Loaded by mocha before any test (see .mocharc.json "require").
 * - Tests and every builder process they start may talk to registries on loopback only: a FROM of an
 *   image missing from a test store fails fast instead of reaching for docker.io, and no test sends
 *   traffic off this machine.
 * - dockerd (Debian's docker.io, with BuildKit) is a peer that reads our images and the oracle of the
 *   parity harness: when we are root and it is installed but not running, the whole suite gets one,
 *   started with `--bridge=none --iptables=false --ip-masq=false` and stopped at the end. busybox:latest
 *   is loaded into it from the same fixture our store uses.
 */
import path from 'node:path';
import { runCommand, repoRoot } from './helpers/cli.js';
import { ensureDockerd, stopDockerd, type DockerdState } from './helpers/docker-oracle-engine.js';

process.env.BUILDER_LOOPBACK_ONLY = '1';

let dockerd: DockerdState | undefined;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    if (process.getuid?.() !== 0) return;
    dockerd = await ensureDockerd();
    if (!dockerd.reachable) {
      console.log(`dockerd is not available (${dockerd.reason ?? 'not installed'}): tests that need it say so and skip`);
      return;
    }
    const image = await runCommand('/usr/bin/docker', ['image', 'inspect', 'busybox:latest']);
    if (image.code !== 0) await runCommand('bash', [path.join(repoRoot, 'scripts', 'make-busybox.sh'), '--load-into-docker'], { timeoutMs: 110_000 });
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    if (dockerd) await stopDockerd(dockerd);
  },
};
