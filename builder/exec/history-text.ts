/**
 * The `created_by` text of a history entry, worded as BuildKit's dockerfile2llb commits it, so `docker history`
 * and tools that read image history see what a BuildKit-built image shows: the expanded values and the argv
 * a RUN executed (`RUN |1 A=b /bin/sh -c make # buildkit`), not the line as written. BuildKit prints several
 * of these with Go's fmt verbs (`%q`, `%v`, `%+v`); goQuote, goList and goDuration copy those spellings.
 */
import type { CopyStep, RunStep, Step } from '../dockerfile/types.js';
import type { ContainerConfig, Healthcheck } from '../image/types.js';

/** Go's strconv.Quote for the strings a Dockerfile holds: C escapes, `\xNN` for other control bytes. */
export function goQuote(text: string): string {
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"' };
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (named[char] !== undefined) out += named[char];
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += char;
  }
  return `${out}"`;
}

/** `%q` of a []string: `["a" "b"]`. */
const goQuotedList = (items: readonly string[]): string => `[${items.map(goQuote).join(' ')}]`;
/** `%v` of a []string: `[a b]`. */
const goList = (items: readonly string[]): string => `[${items.join(' ')}]`;

/** Go's time.Duration.String for a whole number of nanoseconds: `0s`, `500ms`, `1m30s`, `1h0m0s`. */
export function goDuration(nanoseconds: number): string {
  if (nanoseconds === 0) return '0s';
  const sign = nanoseconds < 0 ? '-' : '';
  const ns = Math.abs(nanoseconds);
  const fraction = (value: number, unit: number): string => {
    const whole = Math.floor(value / unit);
    const rest = value % unit;
    if (rest === 0) return String(whole);
    const digits = String(rest).padStart(String(unit).length - 1, '0').replace(/0+$/, '');
    return `${whole}.${digits}`;
  };
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${fraction(ns, 1e3)}µs`;
  if (ns < 1e9) return `${sign}${fraction(ns, 1e6)}ms`;
  const totalSeconds = ns / 1e9;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds - hours * 3600) / 60);
  const seconds = fraction(ns - (hours * 3600 + minutes * 60) * 1e9, 1e9);
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}

/** `HEALTHCHECK %+v` of docker-image-spec's HealthcheckConfig (fields in its declaration order). */
function healthcheckText(health: Healthcheck): string {
  const d = (value: number | undefined): string => goDuration(value ?? 0);
  return `HEALTHCHECK {Test:${goList(health.Test ?? [])} Interval:${d(health.Interval)} Timeout:${d(health.Timeout)} `
    + `StartPeriod:${d(health.StartPeriod)} StartInterval:${d(health.StartInterval)} Retries:${health.Retries ?? 0}}`;
}

/** BuildKit's runCommandString: `|N K=v …` for the stage's ARGs (declaration order), then the argv. */
export function runHistoryText(step: RunStep, argv: readonly string[]): string {
  const args = step.historyArgs ?? [];
  const prefix = args.length > 0 ? [`|${args.length}`, ...args.map(([name, value]) => `${name}=${value}`)] : [];
  return `RUN ${[...prefix, ...argv].join(' ')} # buildkit`;
}

/** convert_copy.go's commit message: flags BuildKit records, expanded sources, heredocs as `<<NAME`, dest. */
export function copyHistoryText(step: CopyStep): string {
  const words: string[] = [step.op];
  if (step.parents) words.push('--parents');
  if (step.chown) words.push(`--chown=${step.chown}`);
  if (step.chmod) words.push(`--chmod=${step.chmod}`);
  const heredocNames = new Set(step.heredocs.map((doc) => doc.name));
  const files = step.sources.filter((source) => !heredocNames.has(source));
  words.push(...files, ...step.heredocs.map((doc) => `<<${doc.name}`), step.dest);
  return `${words.join(' ')} # buildkit`;
}

/**
 * History text of a step that makes no process: `config` is the container config after the step (CMD and
 * ENTRYPOINT print the argv they stored, the shell included). Undefined for steps BuildKit records nothing for.
 */
export function metadataHistoryText(step: Step, config: ContainerConfig): string | undefined {
  const pairs = (vars: [string, string][]): string => vars.map(([name, value]) => ` ${name}=${value}`).join('');
  switch (step.op) {
    case 'ENV': return `ENV${pairs(step.vars)}`;
    case 'LABEL': return `LABEL${pairs(step.vars)}`;
    case 'EXPOSE': return `EXPOSE ${goList(step.ports)}`;
    case 'VOLUME': return `VOLUME ${goList(step.paths)}`;
    case 'USER': return `USER ${step.user}`;
    case 'CMD': return `CMD ${goQuotedList(config.Cmd ?? [])}`;
    case 'ENTRYPOINT': return `ENTRYPOINT ${goQuotedList(config.Entrypoint ?? [])}`;
    case 'SHELL': return `SHELL ${goList(step.shell)}`;
    case 'HEALTHCHECK': return healthcheckText(step.healthcheck);
    case 'STOPSIGNAL': return `STOPSIGNAL ${step.signal}`;
    case 'MAINTAINER': return `MAINTAINER ${step.author}`;
    case 'WORKDIR': return `WORKDIR ${config.WorkingDir ?? '/'}`;
    // dispatchOnbuild only appends the trigger to the config.
    case 'ONBUILD': return undefined;
    case 'ARG': return `ARG ${step.args.map(([name, value]) => (value === undefined ? name : `${name}=${value}`)).join(' ')}`;
    default: return step.source;
  }
}
