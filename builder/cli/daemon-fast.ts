/**
 * The short path for `builder build` through a running daemon: the root of a second, small bundle
 * (scripts/build-cli.ts → daemon-build-bundle.cjs) that entry.ts loads instead of the whole CLI when a daemon may
 * answer. It parses argv with the same definitions as program.ts (program-defs.ts) and runs the same
 * daemonBuildCommand and handleError, so output, errors and exit codes are the whole CLI's; it declines (returns
 * false, having printed and done nothing) whenever the whole CLI must decide: a parse error or help, --debug,
 * --remote, no daemon, or flags the daemon's /build cannot carry. Why: the whole CLI's bundle, its code cache and
 * the builtins it loads (tls, zlib, …) cost more than the rest of a no-op rebuild through a warm daemon.
 */
import { CommanderError } from 'commander';
import type { BuildFlags } from './build.js';
import { findDaemon } from './daemon-client.js';
import { daemonBuildCommand, needsEmbedded } from './daemon-build.js';
import { handleError } from './handle-error.js';
import { defineBuildCommand, newRootCommand } from './program-defs.js';

type DaemonBuildFlags = BuildFlags & { remote?: string; daemon?: boolean };

/** Runs the build through the daemon and sets process.exitCode; false when the whole CLI must handle argv. */
export async function tryMain(argv: string[]): Promise<boolean> {
  if (argv.includes('--debug')) return false;
  let call: { context: string; flags: DaemonBuildFlags } | undefined;
  const silent = { writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined };
  const program = newRootCommand().configureOutput(silent);
  defineBuildCommand(program).configureOutput(silent).action((context: string, flags: DaemonBuildFlags) => {
    call = { context, flags };
  });
  try {
    program.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) return false;
    throw err;
  }
  if (!call || call.flags.remote) return false;
  let daemon: ReturnType<typeof findDaemon>;
  try {
    daemon = findDaemon({ noDaemon: call.flags.daemon === false, rootGiven: program.opts().root !== undefined });
  } catch {
    return false; // a malformed BUILDER_HOST: the whole CLI words the error
  }
  if (!daemon || needsEmbedded(call.flags, call.context)) return false;
  try {
    process.exitCode = await daemonBuildCommand(daemon, call.context, call.flags);
  } catch (err) {
    process.exitCode = handleError(err, false);
  }
  return true;
}
