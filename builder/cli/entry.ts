/**
 * What bin/builder runs: dist/builder/cli/entry.cjs, this module bundled as CommonJS by scripts/build-cli.ts.
 * main.js does the same job as an ES module, for whoever runs it with node directly; a CommonJS entry skips
 * Node's ESM loader and its package.json lookups (~7 ms of CPU and ~10 ms of wall per call: the ESM loader is
 * never started when every module is CommonJS, and the bundles are). No top-level await: CommonJS has none.
 *
 * `build` with a daemon in reach takes the short path (daemon-fast.ts, its own small bundle) before anything
 * else loads; the rest installs the deferred CA hook, then `push` and `pull` take theirs (registry-fast.ts) and
 * everything else runs the whole CLI.
 */
import { statSync } from 'node:fs';
import { loadBundle, loadDaemonBundle, loadRegistryBundle } from './bundle-loader.js';
import { DEFAULT_DAEMON_SOCKET } from './daemon-socket.js';
import { installDeferredCa } from './deferred-ca.js';
import { warmMountHelperEarly } from '../snapshot/mount-syscall.js';

/** The command word of argv (after the global --root DIR / --debug), as bundle-loader.ts reads it. */
function commandOf(argv: string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--root') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/** A cheap first look (one stat at most); daemon-fast.ts decides for real. */
function daemonMayAnswer(argv: string[]): boolean {
  if (commandOf(argv) !== 'build' || argv.includes('--no-daemon')) return false;
  if (process.env.BUILDER_HOST) return true;
  try {
    return statSync(DEFAULT_DAEMON_SOCKET).isSocket();
  } catch {
    return false;
  }
}

async function run(argv: string[]): Promise<void> {
  if (daemonMayAnswer(argv) && (await loadDaemonBundle()?.tryMain(argv))) return;
  installDeferredCa();
  const command = commandOf(argv);
  // push and pull: a small bundle of their own, the first request sooner (registry-fast.ts).
  if ((command === 'push' || command === 'pull') && (await loadRegistryBundle(command)?.tryMain(argv))) return;
  warmMountHelperEarly(command);
  const entry = loadBundle(argv) ?? (await import('./program.js'));
  await entry.main(argv);
}

void run(process.argv);
