import type { Step, StepOp } from '../dockerfile/types.js';
import { copy, copyInputs } from './copy.js';
import * as metadata from './metadata.js';
import { run } from './run.js';
import { runMountInputs } from './run-mounts.js';
import type { InputsDigester, StepContext, StepHandler, StepInputs, StepResult } from './types.js';
import { workdir } from './workdir.js';

/** Instruction → handler. Metadata handlers only change the config; the others write a layer. */
const handlers: { [K in StepOp]: StepHandler<K> } = {
  RUN: run,
  COPY: copy,
  ADD: copy,
  WORKDIR: workdir,
  ENV: metadata.env,
  LABEL: metadata.label,
  EXPOSE: metadata.expose,
  VOLUME: metadata.volume,
  USER: metadata.user,
  CMD: metadata.cmd,
  ENTRYPOINT: metadata.entrypoint,
  SHELL: metadata.shell,
  HEALTHCHECK: metadata.healthcheck,
  STOPSIGNAL: metadata.stopsignal,
  ONBUILD: metadata.onbuild,
  MAINTAINER: metadata.maintainer,
};

const inputDigesters: { [K in StepOp]?: InputsDigester<K> } = { COPY: copyInputs, ADD: copyInputs, RUN: runMountInputs };

/** Steps that touch the filesystem: these show up in progress and are worth caching. */
export function writesFilesystem(step: Step): boolean {
  return step.op === 'RUN' || step.op === 'COPY' || step.op === 'ADD' || step.op === 'WORKDIR';
}

export function executeStep(step: Step, ctx: StepContext): Promise<StepResult> {
  const handler = handlers[step.op] as StepHandler<StepOp>;
  return handler(step as never, ctx);
}

export async function stepInputs(step: Step, ctx: StepContext): Promise<StepInputs | undefined> {
  const digester = inputDigesters[step.op] as InputsDigester<StepOp> | undefined;
  return digester ? digester(step as never, ctx) : undefined;
}
