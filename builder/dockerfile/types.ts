/**
 * The parsed, validated, expanded Dockerfile. Every Step keeps its line so a later error can point at it.
 * ARG/ENV substitution is already applied to every field (with the environment the step sees),
 * except inside RUN/CMD/ENTRYPOINT/HEALTHCHECK commands, which the shell expands at run time.
 */
import type { ContainerConfig, Healthcheck } from '../image/types.js';

interface StepBase {
  /** 1-based first and last line of the instruction in the Dockerfile. */
  line: number;
  endLine: number;
  /** The instruction as written, continuations joined, e.g. `RUN make all` (used in progress and history). */
  source: string;
}

export type CommandForm = 'shell' | 'exec';

/** A heredoc body attached to an instruction (`RUN <<EOF`, `COPY <<EOF /x`). */
export interface Heredoc {
  name: string;
  content: string;
  /** `<<-`: leading tabs were stripped. */
  chomp: boolean;
  /** Quoted delimiter (`<<"EOF"`): no expansion was done in the body. */
  expand: boolean;
}

export type RunMount =
  | { type: 'bind'; target: string; source?: string; from?: StageOrImage; readonly: boolean }
  | { type: 'cache'; target: string; id?: string; sharing: 'shared' | 'locked' | 'private'; from?: StageOrImage; source?: string; readonly: boolean; mode?: number; uid?: number; gid?: number }
  | { type: 'tmpfs'; target: string; size?: number }
  | { type: 'secret'; target?: string; id: string; required: boolean; env?: string; mode?: number; uid?: number; gid?: number }
  /** An SSH agent socket (`--ssh id=…`); without a target it lands at /run/buildkit/ssh_agent.<n> (n-th ssh mount of the RUN). */
  | { type: 'ssh'; target?: string; id: string; required: boolean; mode?: number; uid?: number; gid?: number };

export type StageOrImage = { stage: number } | { image: string } | { context: string };

export interface RunStep extends StepBase {
  op: 'RUN';
  form: CommandForm;
  /** exec form: argv; shell form: one element, the command string (joined with the stage SHELL at run time). */
  args: string[];
  heredocs: Heredoc[];
  mounts: RunMount[];
  network?: 'none' | 'host' | 'default';
  /** Build args visible to this step, sorted by name: they are set in the RUN environment and are part of its cache key. */
  buildArgs: [string, string][];
  /** `--build-arg BUILDKIT_SANDBOX_HOSTNAME=…`: the RUN's hostname instead of BuildKit's `buildkitsandbox`. */
  hostname?: string;
  /** The stage's ARGs in declaration order with the value the step sees ('' when unset): history only (BuildKit's `|N K=v`). */
  historyArgs?: [string, string][];
}

export interface CopyStep extends StepBase {
  op: 'COPY' | 'ADD';
  /** Sources as written (expanded); URLs for ADD; a heredoc's name when `heredocs` holds it. */
  sources: string[];
  dest: string;
  from?: StageOrImage;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  heredocs: Heredoc[];
  /** ADD only. */
  checksum?: string;
  keepGitDir?: boolean;
  /** ADD `--unpack=true|false`: extract archives (default: local ones only) — BuildKit's --unpack. */
  unpack?: boolean;
}

export interface EnvStep extends StepBase { op: 'ENV'; vars: [string, string][] }
export interface LabelStep extends StepBase { op: 'LABEL'; vars: [string, string][] }
/** Ports normalised to `80/tcp`. */
export interface ExposeStep extends StepBase { op: 'EXPOSE'; ports: string[] }
export interface VolumeStep extends StepBase { op: 'VOLUME'; paths: string[] }
export interface UserStep extends StepBase { op: 'USER'; user: string }
export interface WorkdirStep extends StepBase { op: 'WORKDIR'; path: string }
export interface CmdStep extends StepBase { op: 'CMD'; form: CommandForm; args: string[] }
export interface EntrypointStep extends StepBase { op: 'ENTRYPOINT'; form: CommandForm; args: string[] }
export interface ShellStep extends StepBase { op: 'SHELL'; shell: string[] }
/** Durations in nanoseconds as in the image config; `NONE` is `{ Test: ['NONE'] }`. */
export interface HealthcheckStep extends StepBase { op: 'HEALTHCHECK'; healthcheck: Healthcheck }
export interface StopsignalStep extends StepBase { op: 'STOPSIGNAL'; signal: string }
export interface OnbuildStep extends StepBase { op: 'ONBUILD'; trigger: string }
/**
 * A stage ARG, kept only for the image history (BuildKit commits `ARG K=v` entries): the planner has applied its
 * scope already, so it is not cached and does not chain cache keys (solver/stage.ts).
 */
export interface ArgStep extends StepBase { op: 'ARG'; args: [string, string | undefined][] }
/** Deprecated MAINTAINER: sets the image config's `author`. */
export interface MaintainerStep extends StepBase { op: 'MAINTAINER'; author: string }

export type Step =
  | RunStep
  | CopyStep
  | EnvStep
  | LabelStep
  | ExposeStep
  | VolumeStep
  | UserStep
  | WorkdirStep
  | CmdStep
  | EntrypointStep
  | ShellStep
  | HealthcheckStep
  | StopsignalStep
  | OnbuildStep
  | MaintainerStep
  | ArgStep;

export type StepOp = Step['op'];

export type StageBase = { scratch: true } | { image: string } | { stage: number };

export interface Stage {
  index: number;
  /** Lower-cased `AS` name. */
  name?: string;
  from: StageBase;
  platform?: string;
  /** The FROM line. */
  line: number;
  source: string;
  /** ONBUILD triggers inherited from the base image come first, with the FROM line. */
  steps: Step[];
}

export interface BuildPlan {
  /** Display name of the Dockerfile (e.g. `Dockerfile`), used in error locations. */
  file: string;
  stages: Stage[];
  /** Index of the stage to build (`--target`, or the last). */
  target: number;
  /** Build args given but never declared (BuildKit warns about them). */
  unusedBuildArgs: string[];
  /** The meta `ARG SOURCE_DATE_EPOCH[=default]` value (a build arg overrides it), when the Dockerfile declares one. */
  sourceDateEpoch?: string;
}

/** What the planner needs to know about a base image: the config its stage starts from. */
export type ResolveImageConfig = (ref: string, line: number) => Promise<ContainerConfig>;

export interface PlanOptions {
  /** File name used in errors (`Dockerfile`, `app/Dockerfile.prod`). */
  file: string;
  content: string;
  buildArgs: Record<string, string>;
  target?: string;
  resolveImageConfig: ResolveImageConfig;
  /** Platform for the automatic args (TARGETPLATFORM…); default linux/amd64. */
  platform?: string;
}
