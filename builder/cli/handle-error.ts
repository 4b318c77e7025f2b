import { CommanderError } from 'commander';
import { BuildError, BuildErrors, errorCodes } from '../errors.js';
import { sourceExcerpt } from './excerpt.js';

/** Prints an error for a person and returns the exit code. `--debug` adds the cause chain. */
export function handleError(err: unknown, debug: boolean): number {
  if (err instanceof CommanderError) {
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof BuildErrors) {
    for (const error of err.errors) printBuildError(error, debug);
    return errorCodes[err.code].exitCode;
  }
  if (err instanceof BuildError) {
    printBuildError(err, debug);
    return errorCodes[err.code].exitCode;
  }
  process.stderr.write(`ERROR: ${err instanceof Error ? err.message : String(err)}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return 1;
}

function printBuildError(err: BuildError, debug: boolean): void {
  process.stderr.write(`ERROR: ${err.toString()}\n`);
  if (err.detail) process.stderr.write(`${err.detail.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
  const excerpt = sourceExcerpt(err);
  if (excerpt) process.stderr.write(excerpt);
  if (debug) {
    let cause: unknown = err.cause;
    while (cause) {
      process.stderr.write(`Caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
}
