/** The table from instruction keyword to handler (FROM and ARG shape stages and scope, so plan.ts handles them). */
import { BuildError } from '../../errors.js';
import type { ParsedInstruction } from '../parse.js';
import { checkFlags } from '../flags.js';
import { cmd, entrypoint, shell } from './command.js';
import { stepBase, type InstructionHandler } from './context.js';
import type { Step } from '../types.js';
import { copy } from './copy.js';
import { env, label } from './env.js';
import { healthcheck } from './healthcheck.js';
import { expose, stopsignal, user, volume, workdir } from './metadata.js';
import { onbuild } from './onbuild.js';
import { run } from './run.js';

/** MAINTAINER is deprecated; as in BuildKit it sets the image config's author (taken as written, not expanded). */
function maintainer(instruction: ParsedInstruction): Step {
  // BuildKit's parseMaintainer declares no flags, so `MAINTAINER --boo x` is `unknown flag: --boo`.
  checkFlags(instruction.flags, {});
  if (instruction.rest === '') throw new BuildError('DOCKERFILE_PARSE', 'MAINTAINER requires exactly one argument');
  return { op: 'MAINTAINER', ...stepBase(instruction), author: instruction.rest };
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
