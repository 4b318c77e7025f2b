/**
 * ARG scoping: meta ARGs (before the first FROM) are visible only in FROM lines unless re-declared in a stage;
 * a stage ARG is visible from its line to the end of the stage; `--build-arg` values override defaults;
 * automatic platform args are predefined globally; proxy args need no declaration.
 */
import { BuildError } from '../errors.js';
import { expandWord } from './expand.js';
import { checkFlags } from './flags.js';
import type { ParsedInstruction } from './parse.js';
import { splitRawWords } from './words.js';

const PROXY_UPPER = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'] as const;
export const PROXY_ARGS: ReadonlySet<string> = new Set(PROXY_UPPER.flatMap((name) => [name, name.toLowerCase()]));

const NODE_ARCH: Record<string, [string, string]> = {
  x64: ['amd64', ''], arm64: ['arm64', ''], arm: ['arm', 'v7'], ia32: ['386', ''], ppc64: ['ppc64le', ''], s390x: ['s390x', ''], riscv64: ['riscv64', ''],
};

/** TARGETPLATFORM… for `target` (default linux/amd64) and BUILDPLATFORM… for this machine. */
export function platformArgs(target = 'linux/amd64'): Map<string, string> {
  const parts = target.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[a-z0-9_.-]+$/i.test(part))) {
    throw new BuildError('INVALID_ARGUMENT', `invalid platform "${target}" (expected os/arch[/variant], e.g. linux/arm64)`);
  }
  const [os, arch, variant = ''] = parts.map((part) => part.toLowerCase()) as [string, string, string?];
  const [buildArch, buildVariant] = NODE_ARCH[process.arch] ?? [process.arch, ''];
  const platform = (o: string, a: string, v: string): string => [o, a, v].filter(Boolean).join('/');
  return new Map([
    ['TARGETPLATFORM', platform(os, arch, variant)], ['TARGETOS', os], ['TARGETARCH', arch], ['TARGETVARIANT', variant],
    ['BUILDPLATFORM', platform('linux', buildArch, buildVariant)], ['BUILDOS', 'linux'], ['BUILDARCH', buildArch], ['BUILDVARIANT', buildVariant],
    // Linux platforms have no OS version; BuildKit defines both args anyway (empty).
    ['TARGETOSVERSION', ''], ['BUILDOSVERSION', ''],
  ]);
}

/** ARG declarations of one instruction: name and raw default. */
export function parseArgs(instruction: ParsedInstruction, escapeChar: string): { name: string; rawDefault?: string }[] {
  checkFlags(instruction.flags, {});
  const words = splitRawWords(instruction.rest, escapeChar);
  if (words.length === 0) throw new BuildError('DOCKERFILE_PARSE', 'ARG requires at least one argument');
  return words.map((word) => {
    const eq = word.indexOf('=');
    const name = eq < 0 ? word : word.slice(0, eq);
    // BuildKit accepts any non-blank name (`a-b`, `1st`); only such names cannot be referenced as $name.
    if (name === '') throw new BuildError('DOCKERFILE_PARSE', 'ARG names can not be blank');
    return eq < 0 ? { name } : { name, rawDefault: word.slice(eq + 1) };
  });
}

export class ArgScope {
  private readonly declared = new Set<string>();
  private readonly meta = new Map<string, string | undefined>();

  constructor(
    private readonly buildArgs: Record<string, string>,
    private readonly platform: Map<string, string>,
    private readonly escapeChar: string,
  ) {}

  /** What FROM lines see: meta ARGs, then the automatic platform args. */
  readonly metaLookup = (name: string): string | undefined =>
    this.meta.has(name) ? this.meta.get(name) : this.platform.get(name);

  /** Declares ARGs into `args` (the meta scope when `inStage` is false), defaults expanded with `lookup`; returns the names it set. */
  declare(
    instruction: ParsedInstruction, args: Map<string, string | undefined>, lookup: (name: string) => string | undefined, inStage: boolean,
    history?: [string, string | undefined][],
  ): string[] {
    const names: string[] = [];
    for (const { name: rawName, rawDefault } of parseArgs(instruction, this.escapeChar)) {
      // A stage ARG's name is expanded (`ARG ${PREFIX}_VAR`), as docker, kaniko, buildah and BuildKit up to
      // 0.13 do; a meta ARG's name never was. See docs/ARCHITECTURE.md (Dockerfile parity) for BuildKit ≥ 0.14.
      const name = inStage && rawName.includes('$') ? expandWord(rawName, lookup, this.escapeChar) : rawName;
      if (name === '') throw new BuildError('DOCKERFILE_PARSE', `ARG name ${rawName} expands to nothing`);
      this.declared.add(name);
      let value: string | undefined;
      if (Object.prototype.hasOwnProperty.call(this.buildArgs, name)) value = this.buildArgs[name];
      else if (rawDefault !== undefined) value = expandWord(rawDefault, lookup, this.escapeChar);
      else value = inStage ? this.metaLookup(name) : this.platform.get(name);
      // `ARG NAME` with no value anywhere keeps what the stage already has (inherited from its parent stage
      // or an earlier ARG): BuildKit adds nothing to the build state's env then, so the old value stays.
      // History shows the value the ARG itself resolved to (`ARG NAME` alone when none), as BuildKit's dispatchArg.
      history?.push([name, value]);
      if (value === undefined && args.get(name) !== undefined) continue;
      names.push(name);
      args.set(name, value);
    }
    return names;
  }

  /** A meta ARG's value, only when the Dockerfile declares it before its first FROM. */
  metaValue(name: string): string | undefined {
    return this.meta.get(name);
  }

  declareMeta(instruction: ParsedInstruction): void {
    this.declare(instruction, this.meta, this.metaLookup, false);
  }

  /**
   * ARGs with values for a RUN, plus the proxy build args (declared or not); sorted by name. As BuildKit's
   * proxyEnvFromBuildArgs + proxyEnvList: a proxy arg given in either case sets both `HTTP_PROXY` and
   * `http_proxy` (the lower-case spelling wins when both are given), after the ARGs.
   */
  runArgs(args: Map<string, string | undefined>): [string, string][] {
    const result = new Map<string, string>();
    for (const [name, value] of args) if (value !== undefined) result.set(name, value);
    for (const upper of PROXY_UPPER) {
      const given = Object.keys(this.buildArgs).filter((key) => key.toUpperCase() === upper).sort();
      const value = given.length > 0 ? this.buildArgs[given[given.length - 1]!]! : '';
      if (value === '') continue;
      result.set(upper, value);
      result.set(upper.toLowerCase(), value);
    }
    return [...result].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Build args given but never declared (proxy, platform and BUILDKIT_* args excepted). */
  unused(): string[] {
    return Object.keys(this.buildArgs)
      .filter((name) => !this.declared.has(name) && !PROXY_ARGS.has(name) && !this.platform.has(name) && !name.startsWith('BUILDKIT_'))
      .sort();
  }
}
