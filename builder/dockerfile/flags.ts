/** Instruction flags (`--from=x`, `--link`, repeated `--mount=…`): extraction from the text and validation per instruction. */
import { BuildError } from '../errors.js';
import { splitRawWords } from './words.js';
import { suggest } from './suggest.js';

/** A flag as written: name without dashes, raw value (quotes kept) or undefined for a bare `--flag`. */
export interface RawFlag {
  name: string;
  value?: string;
}

export type FlagKind = 'string' | 'bool' | 'strings';
export type FlagSpec = Record<string, FlagKind>;

/** Values by flag name; bool flags hold 'true'/'false', repeatable ones hold every value in order. */
export type FlagValues = Map<string, string[]>;

/** Takes the leading `--flag` words off an instruction's arguments. */
export function extractFlags(args: string, escapeChar: string): { flags: RawFlag[]; rest: string } {
  const flags: RawFlag[] = [];
  let rest = args.trimStart();
  while (rest.startsWith('--')) {
    const word = splitRawWords(rest, escapeChar)[0]!;
    rest = rest.slice(word.length).trimStart();
    if (word === '--') break;
    const eq = word.indexOf('=');
    flags.push(eq < 0 ? { name: word.slice(2) } : { name: word.slice(2, eq), value: word.slice(eq + 1) });
  }
  return { flags, rest };
}

/** Checks the flags against what the instruction accepts; unknown, duplicate or value-less flags are errors. */
export function checkFlags(flags: RawFlag[], spec: FlagSpec): FlagValues {
  const values: FlagValues = new Map();
  for (const flag of flags) {
    const kind = Object.prototype.hasOwnProperty.call(spec, flag.name) ? spec[flag.name] : undefined;
    if (!kind) {
      const close = suggest(flag.name, Object.keys(spec));
      throw new BuildError('DOCKERFILE_PARSE', `unknown flag: --${flag.name}${close ? ` (did you mean ${close}?)` : ''}`);
    }
    const seen = values.get(flag.name);
    if (seen && kind !== 'strings') throw new BuildError('DOCKERFILE_PARSE', `duplicate flag specified: --${flag.name}`);
    if (kind === 'bool') {
      const value = (flag.value ?? 'true').toLowerCase();
      if (value !== 'true' && value !== 'false') {
        throw new BuildError('DOCKERFILE_PARSE', `expecting boolean value for flag --${flag.name}, not: ${flag.value}`);
      }
      values.set(flag.name, [value]);
      continue;
    }
    if (flag.value === undefined) throw new BuildError('DOCKERFILE_PARSE', `missing a value on flag: --${flag.name}`);
    values.set(flag.name, [...(seen ?? []), flag.value]);
  }
  return values;
}
