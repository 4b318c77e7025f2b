/**
 * `docker commit --change` and `docker import --change`: Dockerfile instructions applied to an image config
 * (moby's dockerfile.BuildFromConfig, limited to the instructions that only set config, as dockerd allows:
 * CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR). Each change
 * is parsed by the Dockerfile front end, so quoting, JSON forms and $VAR expansion (against the config's Env)
 * are the Dockerfile's.
 */
import { BuildError } from '../errors.js';
import { parseInstruction } from '../dockerfile/parse.js';
import { handlers } from '../dockerfile/instructions/index.js';
import type { InstructionContext } from '../dockerfile/instructions/context.js';
import type { Step } from '../dockerfile/types.js';
import { getEnv, resolveImagePath, setEnv } from '../exec/config.js';
import type { ContainerConfig } from './types.js';

const ALLOWED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'] as const;
type AllowedOp = (typeof ALLOWED)[number];
type ChangeStep = Extract<Step, { op: AllowedOp }>;

const shellOf = (config: ContainerConfig): string[] => (config.Shell && config.Shell.length > 0 ? config.Shell : ['/bin/sh', '-c']);
const command = (config: ContainerConfig, step: Extract<Step, { op: 'CMD' | 'ENTRYPOINT' }>): string[] =>
  step.form === 'shell' ? [...shellOf(config), step.args[0] ?? ''] : [...step.args];

/** One setter per instruction (the table, not a switch). */
const apply: { [K in AllowedOp]: (config: ContainerConfig, step: Extract<ChangeStep, { op: K }>) => void } = {
  CMD: (config, step) => { config.Cmd = command(config, step); },
  ENTRYPOINT: (config, step) => { config.Entrypoint = command(config, step); },
  ENV: (config, step) => { for (const [name, value] of step.vars) config.Env = setEnv(config.Env, name, value); },
  EXPOSE: (config, step) => { config.ExposedPorts = { ...(config.ExposedPorts ?? {}), ...Object.fromEntries(step.ports.map((p) => [p, {}])) }; },
  HEALTHCHECK: (config, step) => { config.Healthcheck = { ...step.healthcheck }; },
  LABEL: (config, step) => { config.Labels = { ...(config.Labels ?? {}), ...Object.fromEntries(step.vars) }; },
  ONBUILD: (config, step) => { config.OnBuild = [...(config.OnBuild ?? []), step.trigger]; },
  SHELL: (config, step) => { config.Shell = [...step.shell]; },
  STOPSIGNAL: (config, step) => { config.StopSignal = step.signal; },
  USER: (config, step) => { config.User = step.user; },
  VOLUME: (config, step) => { config.Volumes = { ...(config.Volumes ?? {}), ...Object.fromEntries(step.paths.map((p) => [p, {}])) }; },
  WORKDIR: (config, step) => { config.WorkingDir = resolveImagePath(config.WorkingDir, step.path).replace(/(.)\/$/, '$1'); },
};

/** `config` with every change applied in order; a change that is not one of these instructions is a 400. */
export function applyConfigChanges(config: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const next: ContainerConfig = { ...config };
  for (const [index, text] of changes.entries()) {
    if (text.trim() === '') continue;
    const instruction = parseInstruction(text, index + 1);
    if (!(ALLOWED as readonly string[]).includes(instruction.keyword)) {
      throw new BuildError('INVALID_ARGUMENT', `${instruction.keyword} is not a valid change command`);
    }
    const context: InstructionContext = {
      escapeChar: '\\',
      lookup: (name) => getEnv(next.Env, name),
      resolveFrom: () => { throw new BuildError('INVALID_ARGUMENT', `--from is not valid in a change: ${text}`); },
      buildArgs: () => [],
    };
    const step = handlers[instruction.keyword]!(instruction, context) as ChangeStep | undefined;
    if (!step) continue;
    (apply[step.op] as (config: ContainerConfig, step: ChangeStep) => void)(next, step);
  }
  return next;
}
