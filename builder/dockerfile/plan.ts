/**
 * Dockerfile → BuildPlan: stages, ARG/ENV scope and expansion, inherited ONBUILD triggers, validation.
 * Every problem is collected and thrown together (BuildErrors) before anything runs.
 */
import { BuildError, BuildErrors, errorMessage } from '../errors.js';
import { expandWord } from './expand.js';
import { handlers } from './instructions/index.js';
import { stepBase, type InstructionContext } from './instructions/context.js';
import { parseFrom } from './instructions/from.js';
import { checkKeyword, KEYWORDS } from './instructions/keywords.js';
import { checkTrigger } from './instructions/onbuild.js';
import { parseDockerfile, parseInstruction, type ParsedInstruction } from './parse.js';
import { ArgScope, platformArgs } from './scope.js';
import { stageDependencies } from './stage-deps.js';
import type { BuildPlan, PlanOptions, Stage, StageBase, StageOrImage } from './types.js';

const SCRATCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A stage while it is being planned: its variables and the ONBUILD triggers its image will carry. */
interface StageState {
  stage: Stage;
  env: Map<string, string>;
  args: Map<string, string | undefined>;
  /** Names whose latest value came from an ARG declared after an ENV of the same name: BuildKit lets that ARG win. */
  argWins: Set<string>;
  onbuild: string[];
}

export async function planBuild(options: PlanOptions): Promise<BuildPlan> {
  const file = options.file;
  let parsed;
  try {
    parsed = parseDockerfile(options.content);
  } catch (err) {
    throw locate(err, file);
  }
  if (parsed.instructions.length === 0) {
    // BuildKit's words (parser.go), so a user searching for them finds the cause; only comments counts as empty too.
    throw new BuildError('NO_FROM', `failed to parse ${file}: file with no instructions`, { file, line: 1 });
  }
  const first = parsed.instructions[0]!;
  // A file whose first instruction is no keyword is not a Dockerfile (a mistaken -f, a link to another file):
  // report that one line, not one error (and one quoted line) per line of the file.
  if (!KNOWN_FIRST.has(first.keyword)) {
    try {
      checkKeyword(first.keyword);
    } catch (err) {
      throw locate(err, file, first.line);
    }
  }
  const planner = new Planner(options, parsed.escapeChar, stageNames(parsed.instructions, parsed.escapeChar));
  for (const instruction of parsed.instructions) await planner.add(instruction);
  return planner.finish();
}

/**
 * Every stage's AS name and the stage count, known before planning: BuildKit registers all stages first,
 * so `COPY --from` may name (or index) a stage defined later in the file.
 */
function stageNames(instructions: readonly ParsedInstruction[], escapeChar: string): { names: Map<string, number>; count: number } {
  const names = new Map<string, number>();
  let count = 0;
  for (const instruction of instructions) {
    if (instruction.keyword !== 'FROM') continue;
    try {
      const name = parseFrom(instruction, escapeChar).name;
      if (name !== undefined) names.set(name, count);
    } catch {
      // A broken FROM is reported when the planner reaches it.
    }
    count++;
  }
  return { names, count };
}

const KNOWN_FIRST: ReadonlySet<string> = new Set(KEYWORDS);

function locate(err: unknown, file: string, line?: number): BuildError {
  const error = err instanceof BuildError ? err : new BuildError('INTERNAL', errorMessage(err), { cause: err });
  error.file ??= file;
  if (error.line === undefined) error.line = line;
  return error;
}

function envMap(env: readonly string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) map.set(entry.slice(0, eq), entry.slice(eq + 1));
    else if (eq < 0) map.set(entry, '');
  }
  return map;
}

class Planner {
  private readonly states: StageState[] = [];
  private current: StageState | undefined;
  private readonly errors: BuildError[] = [];
  private readonly scope: ArgScope;

  constructor(
    private readonly options: PlanOptions,
    private readonly escapeChar: string,
    private readonly allStages: { names: Map<string, number>; count: number },
  ) {
    let platform: Map<string, string>;
    try {
      platform = platformArgs(options.platform);
    } catch (err) {
      throw locate(err, options.file);
    }
    // BuildKit's defaultArgs: TARGETSTAGE is the --target as given, else the last stage's name, else "default".
    let lastName: string | undefined;
    for (const [name, index] of allStages.names) if (index === allStages.count - 1) lastName = name;
    platform.set('TARGETSTAGE', options.target || lastName || 'default');
    this.scope = new ArgScope(options.buildArgs, platform, escapeChar);
  }

  async add(instruction: ParsedInstruction): Promise<void> {
    try {
      checkKeyword(instruction.keyword);
      if (instruction.keyword === 'FROM') await this.startStage(instruction);
      else this.dispatch(instruction);
    } catch (err) {
      this.errors.push(locate(err, this.options.file, instruction.line));
    }
  }

  finish(): BuildPlan {
    const file = this.options.file;
    if (this.errors.length === 1) throw this.errors[0]!;
    if (this.errors.length > 1) throw new BuildErrors(this.errors);
    if (this.states.length === 0) throw new BuildError('NO_FROM', 'dockerfile contains no stages to build', { file });
    checkNoCycle(this.states.map((state) => state.stage), file);
    let target = this.states.length - 1;
    if (this.options.target !== undefined) {
      const wanted = this.options.target.toLowerCase();
      target = this.states.findIndex((state) => state.stage.name === wanted);
      if (target < 0) throw new BuildError('UNKNOWN_STAGE', `target stage "${this.options.target}" could not be found`, { file });
    }
    const epoch = this.scope.metaValue('SOURCE_DATE_EPOCH');
    return { file, stages: this.states.map((state) => state.stage), target, unusedBuildArgs: this.scope.unused(), ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}) };
  }

  private async startStage(instruction: ParsedInstruction): Promise<void> {
    const index = this.states.length;
    // A placeholder first, so a broken FROM does not also make every later instruction report NO_FROM.
    const state: StageState = {
      stage: { index, from: { scratch: true }, line: instruction.line, source: instruction.source, steps: [] },
      env: new Map(), args: new Map(), argWins: new Set(), onbuild: [],
    };
    this.states.push(state);
    this.current = state;
    const parts = parseFrom(instruction, this.escapeChar);
    const image = expandWord(parts.image, this.scope.metaLookup, this.escapeChar);
    if (image === '') throw new BuildError('DOCKERFILE_INVALID', `base name (${parts.image}) should not be blank`);
    if (parts.platform !== undefined) state.stage.platform = expandWord(parts.platform, this.scope.metaLookup, this.escapeChar);
    // A repeated stage name is only a lint warning in BuildKit (DuplicateStageName): FROM sees the latest
    // stage of that name so far, --from the last one in the file.
    if (parts.name !== undefined) state.stage.name = parts.name;
    const from = this.baseOf(image, index);
    state.stage.from = from;
    let triggers: readonly string[] = [];
    // BuildKit's empty image (FROM scratch) carries the default PATH, and $PATH expands to it.
    if ('scratch' in from) state.env = new Map([['PATH', SCRATCH_PATH]]);
    if ('image' in from) {
      const config = await this.options.resolveImageConfig(from.image, instruction.line);
      state.env = envMap(config.Env);
      triggers = config.OnBuild ?? [];
    } else if ('stage' in from) {
      const parent = this.states[from.stage]!;
      state.env = new Map(parent.env);
      // BuildKit: a stage built FROM another inherits its ARG values too (its ENV still wins over them).
      state.args = new Map(parent.args);
      triggers = parent.onbuild;
    }
    for (const trigger of triggers) {
      try {
        checkTrigger(trigger);
        this.dispatch(parseInstruction(trigger, instruction.line, this.escapeChar));
      } catch (err) {
        if (err instanceof BuildError) err.message = `ONBUILD trigger "${trigger}" inherited from ${image}: ${err.message}`;
        throw err;
      }
    }
  }

  private baseOf(image: string, index: number): StageBase {
    const lower = image.toLowerCase();
    if (lower === 'scratch') return { scratch: true };
    let named = -1;
    this.states.forEach((state, i) => {
      if (i < index && state.stage.name === lower) named = i;
    });
    if (named >= 0) return { stage: named };
    if (/^\d+$/.test(image) && Number(image) < index) return { stage: Number(image) };
    return { image };
  }

  /** Every instruction but FROM: ARG changes scope, the rest become Steps. */
  private dispatch(instruction: ParsedInstruction): void {
    const state = this.current;
    if (instruction.keyword === 'ARG') {
      if (state) {
        const history: [string, string | undefined][] = [];
        for (const name of this.scope.declare(instruction, state.args, this.lookup(state), true, history)) {
          if (state.args.get(name) !== undefined) state.argWins.add(name);
        }
        state.stage.steps.push({ op: 'ARG', ...stepBase(instruction), args: history });
      } else {
        this.scope.declareMeta(instruction);
        // BuildKit checks the build's epoch where the Dockerfile gives it (the build arg overrides the default).
        const epoch = this.scope.metaValue('SOURCE_DATE_EPOCH');
        if (epoch !== undefined && epoch !== '' && !/^\d+$/.test(epoch)) throw new BuildError('INVALID_ARGUMENT', `invalid SOURCE_DATE_EPOCH: ${epoch}`);
      }
      return;
    }
    if (!state) throw new BuildError('NO_FROM', 'no build stage in current context');
    const step = handlers[instruction.keyword]!(instruction, this.context(state));
    if (!step) return;
    state.stage.steps.push(step);
    if (step.op === 'ENV') {
      for (const [name, value] of step.vars) {
        state.env.set(name, value);
        state.argWins.delete(name);
      }
    }
    if (step.op === 'ONBUILD') state.onbuild.push(step.trigger);
  }

  /** The later of ENV and ARG (with a value) wins, as in BuildKit where both set the build state's env. */
  private lookup(state: StageState): (name: string) => string | undefined {
    return (name) => (state.env.has(name) && !state.argWins.has(name) ? state.env.get(name) : state.args.get(name));
  }

  /** Build args a step's RUN sees: none that an ENV declared after them shadows (runEnv lets the rest override Env). */
  private visibleArgs(state: StageState): [string, string][] {
    return this.scope.runArgs(state.args).filter(([name]) => !state.env.has(name) || state.argWins.has(name));
  }

  private context(state: StageState): InstructionContext {
    return {
      escapeChar: this.escapeChar,
      lookup: this.lookup(state),
      resolveFrom: (value) => this.resolveFrom(value),
      buildArgs: () => this.visibleArgs(state),
      ...(this.options.buildArgs.BUILDKIT_SANDBOX_HOSTNAME ? { sandboxHostname: this.options.buildArgs.BUILDKIT_SANDBOX_HOSTNAME } : {}),
      historyArgs: () => {
        const lookup = this.lookup(state);
        return [...state.args.keys()].map((name): [string, string] => [name, lookup(name) ?? '']);
      },
    };
  }

  /**
   * `--from=name|index|image` as BuildKit's toCommand resolves it: any stage of the file by name or index
   * (later ones included; a cycle is refused in finish()), an index past the last stage is an error, and
   * anything else is an image.
   */
  private resolveFrom(value: string): StageOrImage {
    const named = this.allStages.names.get(value.toLowerCase());
    if (named !== undefined) return { stage: named };
    if (/^\d+$/.test(value)) {
      if (Number(value) >= this.allStages.count) throw new BuildError('UNKNOWN_STAGE', `invalid stage index ${value}`);
      return { stage: Number(value) };
    }
    return { image: value };
  }
}

/** BuildKit's validateCircularDependency: a stage may not (transitively) read from itself. */
function checkNoCycle(stages: readonly Stage[], file: string): void {
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (stage: Stage): void => {
    if (state.get(stage.index) === 'done') return;
    if (state.get(stage.index) === 'visiting') {
      throw new BuildError('DOCKERFILE_INVALID', `circular dependency detected on stage: ${stage.name ?? `stage-${stage.index}`}`, { file, line: stage.line });
    }
    state.set(stage.index, 'visiting');
    for (const dep of stageDependencies(stage)) if (stages[dep]) visit(stages[dep]);
    state.set(stage.index, 'done');
  };
  for (const stage of stages) visit(stage);
}
