import type { Step, StepOp } from '../dockerfile/types.js';
import { copyInputs } from './copy-inputs.js';
import * as metadata from './metadata.js';
import type { InputsDigester, StepContext, StepHandler, StepInputs, StepResult } from './types.js';

// RUN, WORKDIR and COPY/ADD pull in runc, overlay mounts and the layer writer: load them when a step runs, so a
// fully cached rebuild (the common case) does not pay for importing them.
const run: StepHandler<'RUN'> = async (step, ctx) => (await import('./run.js')).run(step, ctx);
const workdir: StepHandler<'WORKDIR'> = async (step, ctx) => (await import('./workdir.js')).workdir(step, ctx);
const copy: StepHandler<'COPY' | 'ADD'> = async (step, ctx) => (await import('./copy.js')).copy(step, ctx);
const runMountInputs: InputsDigester<'RUN'> = async (step, ctx) =>
  step.mounts.length === 0 ? undefined : (await import('./run-mounts.js')).runMountInputs(step, ctx);

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
  ARG: metadata.arg,
};

const inputDigesters: { [K in StepOp]?: InputsDigester<K> } = { COPY: copyInputs, ADD: copyInputs, RUN: runMountInputs };

/** Steps that touch the filesystem: these show up in progress and are worth caching. */
export function writesFilesystem(step: Step): boolean {
  return step.op === 'RUN' || step.op === 'COPY' || step.op === 'ADD' || step.op === 'WORKDIR';
}

/**
 * Starts loading the lazily imported handlers `ops` need (RUN: runc, seccomp, the sandbox spec; WORKDIR). The
 * solver calls it at a stage's first cache miss, so the import overlaps that step's work instead of stalling the
 * first RUN (the trace showed ~20 ms idle, ~80 ms under load, before its mount). A cached rebuild never calls it.
 * It also starts the mount helper for steps that mount.
 */
export function prefetchHandlers(ops: ReadonlySet<StepOp>): void {
  // The mount helper (a perl process, snapshot/mount-syscall.ts) starts now, beside the step's own work. Not for
  // WORKDIR alone: it mounts only under a USER (exec/workdir.ts), and then starts the helper itself.
  if (ops.has('RUN')) void import('../snapshot/mount-syscall.js').then((helper) => helper.warmMountHelper(), () => undefined);
  if (ops.has('RUN')) void import('./run.js').catch(() => undefined);
  if (ops.has('WORKDIR')) void import('./workdir.js').catch(() => undefined);
  if (ops.has('COPY') || ops.has('ADD')) void import('./copy.js').catch(() => undefined);
}

export function executeStep(step: Step, ctx: StepContext): Promise<StepResult> {
  const handler = handlers[step.op] as StepHandler<StepOp>;
  return handler(step as never, ctx);
}

export async function stepInputs(step: Step, ctx: StepContext): Promise<StepInputs | undefined> {
  const digester = inputDigesters[step.op] as InputsDigester<StepOp> | undefined;
  return digester ? digester(step as never, ctx) : undefined;
}
