/**
 * The short path for `builder push` and `builder pull`: the root of a small bundle of its own (scripts/build-cli.ts →
 * registry-bundle.cjs) that entry.ts loads instead of the whole CLI for those two commands. It parses argv with the
 * same definitions as the whole CLI (program-defs.ts, registry-defs.ts) and runs the same pushCommand / pullCommand
 * and handleError, so output, errors and exit codes are the whole CLI's; it declines (returns false, having printed
 * and done nothing) when the whole CLI must decide: a parse error or help, --debug, or any other command.
 * Why: a push's first request is the CLI's start-up (docs/ARCHITECTURE.md, "Registries", fifth pass): the whole
 * CLI's 1.2 MB bundle, its code cache and the definitions of every command took ~10 ms before a push could begin,
 * against ~4 ms for this 175 KB one (most of it the builtins it needs anyway), while skopeo's first request leaves
 * ~11 ms after exec.
 */
import { CommanderError } from 'commander';
import { handleError } from './handle-error.js';
import type { GlobalOptions } from './options.js';
import { newRootCommand } from './program-defs.js';
import { definePullCommand, definePushCommand } from './registry-defs.js';
import { pullCommand, pushCommand, type PullFlags } from './registry.js';

type Call = () => Promise<number>;

/** Runs the push or pull and sets process.exitCode; false when the whole CLI must handle argv. */
export async function tryMain(argv: string[]): Promise<boolean> {
  if (argv.includes('--debug')) return false;
  let call: Call | undefined;
  const silent = { writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined };
  const program = newRootCommand().configureOutput(silent);
  const global = (): GlobalOptions => program.opts<GlobalOptions>();
  definePushCommand(program).configureOutput(silent).action((name: string, destination: string | undefined, flags: { quiet?: boolean }) => {
    call = () => pushCommand(name, destination, flags, global());
  });
  definePullCommand(program).configureOutput(silent).action((name: string, flags: PullFlags) => {
    call = () => pullCommand(name, flags, global());
  });
  try {
    program.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) return false;
    throw err;
  }
  if (!call) return false;
  try {
    process.exitCode = await call();
  } catch (err) {
    process.exitCode = handleError(err, false);
  }
  return true;
}
