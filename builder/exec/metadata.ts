import type { ArgStep, Step } from '../dockerfile/types.js';
import type { ContainerConfig } from '../image/types.js';
import { cloneConfig, createdAt, recordStep, resolveImagePath, setEnv } from './config.js';
import type { ImageConfig } from '../image/types.js';
import { metadataHistoryText } from './history-text.js';
import type { StepContext, StepHandler, StepOf, StepResult } from './types.js';

type MetadataOp = 'ENV' | 'LABEL' | 'EXPOSE' | 'VOLUME' | 'USER' | 'CMD' | 'ENTRYPOINT' | 'SHELL' | 'HEALTHCHECK' | 'STOPSIGNAL' | 'ONBUILD';

/** The shell a shell-form command runs under: the stage's SHELL, else /bin/sh -c. */
export function shellOf(config: ContainerConfig): string[] {
  return config.Shell && config.Shell.length > 0 ? config.Shell : ['/bin/sh', '-c'];
}

/** Applies a change to the container config and records the step in history, with no layer. */
function metadataOnly<K extends MetadataOp>(change: (config: ContainerConfig, step: StepOf<K>) => void): StepHandler<K> {
  return async (step, ctx: StepContext): Promise<StepResult> => {
    const next = cloneConfig(ctx.config);
    change(next.config, step);
    // ONBUILD has no history text: BuildKit's dispatchOnbuild records nothing.
    const text = metadataHistoryText(step as Step, next.config);
    return { config: text === undefined ? next : recordStep(next, text, undefined, ctx.sourceDateEpoch) };
  };
}

export const env = metadataOnly<'ENV'>((config, step) => {
  for (const [name, value] of step.vars) config.Env = setEnv(config.Env, name, value);
});

export const label = metadataOnly<'LABEL'>((config, step) => {
  config.Labels = { ...(config.Labels ?? {}) };
  for (const [name, value] of step.vars) config.Labels[name] = value;
});

export const expose = metadataOnly<'EXPOSE'>((config, step) => {
  config.ExposedPorts = { ...(config.ExposedPorts ?? {}) };
  for (const port of step.ports) config.ExposedPorts[port] = {};
});

export const volume = metadataOnly<'VOLUME'>((config, step) => {
  config.Volumes = { ...(config.Volumes ?? {}) };
  for (const volumePath of step.paths) config.Volumes[volumePath] = {};
});

export const user = metadataOnly<'USER'>((config, step) => {
  config.User = step.user;
});

/** CMD and ENTRYPOINT: a shell form runs under the stage's SHELL. A new ENTRYPOINT drops an inherited CMD. */
export const cmd = metadataOnly<'CMD'>((config, step) => {
  config.Cmd = step.form === 'shell' ? [...shellOf(config), step.args[0] ?? ''] : [...step.args];
});

export const entrypoint: StepHandler<'ENTRYPOINT'> = async (step, ctx) => {
  const next = cloneConfig(ctx.config);
  next.config.Entrypoint = step.form === 'shell' ? [...shellOf(next.config), step.args[0] ?? ''] : [...step.args];
  if (!ctx.cmdSetInStage) next.config.Cmd = null;
  return { config: recordStep(next, metadataHistoryText(step, next.config) ?? step.source, undefined, ctx.sourceDateEpoch) };
};

export const shell = metadataOnly<'SHELL'>((config, step) => {
  config.Shell = [...step.shell];
});

export const healthcheck = metadataOnly<'HEALTHCHECK'>((config, step) => {
  config.Healthcheck = { ...step.healthcheck };
});

export const stopsignal = metadataOnly<'STOPSIGNAL'>((config, step) => {
  config.StopSignal = step.signal;
});

/** MAINTAINER sets the image's author, a top-level config field rather than a container setting. */
export const maintainer: StepHandler<'MAINTAINER'> = async (step, ctx) => {
  const next = cloneConfig(ctx.config);
  next.author = step.author;
  return { config: recordStep(next, metadataHistoryText(step, next.config) ?? step.source, undefined, ctx.sourceDateEpoch) };
};

export const onbuild = metadataOnly<'ONBUILD'>((config, step) => {
  config.OnBuild = [...(config.OnBuild ?? []), step.trigger];
});

/** WORKDIR's config half; exec/workdir.ts creates the directory. */
export function applyWorkdir(config: ContainerConfig, target: string): void {
  config.WorkingDir = resolveImagePath(config.WorkingDir, target).replace(/(.)\/$/, '$1');
}

/**
 * ARG's history entry (`ARG K=v K2`, BuildKit's dispatchArg). ARG is not cached (its scope is the planner's), so
 * its time is the previous entry's: a fully cached rebuild then reproduces the same config and image digest.
 */
export function recordArg(config: ImageConfig, step: ArgStep, sourceDateEpoch?: number): ImageConfig {
  const next = cloneConfig(config);
  const created = next.history?.at(-1)?.created ?? createdAt(sourceDateEpoch);
  next.history = [...(next.history ?? []), { created, created_by: metadataHistoryText(step, next.config)!, comment: 'buildkit.dockerfile.v0', empty_layer: true }];
  return next;
}

export const arg: StepHandler<'ARG'> = async (step, ctx) => ({ config: recordArg(ctx.config, step, ctx.sourceDateEpoch) });
