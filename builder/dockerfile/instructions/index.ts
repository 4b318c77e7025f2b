/** The table from instruction keyword to handler (FROM and ARG shape stages and scope, so plan.ts handles them). */
import { BuildError } from '../../errors.js';
import type { ParsedInstruction } from '../parse.js';
import { cmd, entrypoint, shell } from './command.js';
import type { InstructionHandler } from './context.js';
import { copy } from './copy.js';
import { env, label } from './env.js';
import { healthcheck } from './healthcheck.js';
import { expose, stopsignal, user, volume, workdir } from './metadata.js';
import { onbuild } from './onbuild.js';
import { run } from './run.js';

/** MAINTAINER is deprecated; BuildKit only sets the config author, which no Step carries, so it yields nothing. */
function maintainer(instruction: ParsedInstruction): undefined {
  if (instruction.rest === '') throw new BuildError('DOCKERFILE_PARSE', 'MAINTAINER requires exactly one argument');
  return undefined;
}

export const handlers: Readonly<Record<string, InstructionHandler>> = {
  RUN: run,
  CMD: cmd,
  ENTRYPOINT: entrypoint,
  SHELL: shell,
  COPY: copy,
  ADD: copy,
  ENV: env,
  LABEL: label,
  EXPOSE: expose,
  VOLUME: volume,
  USER: user,
  WORKDIR: workdir,
  STOPSIGNAL: stopsignal,
  HEALTHCHECK: healthcheck,
  ONBUILD: onbuild,
  MAINTAINER: maintainer,
};
