/** FROM [--platform=…] image [AS name]: the parts as written (plan.ts expands them with the meta ARGs). */
import { BuildError } from '../../errors.js';
import { checkFlags } from '../flags.js';
import type { ParsedInstruction } from '../parse.js';
import { splitRawWords } from '../words.js';

/** Stage names BuildKit reserves. */
const RESERVED = new Set(['scratch', 'context']);
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

export interface FromParts {
  /** Image reference or stage name, unexpanded. */
  image: string;
  /** Lower-cased `AS` name. */
  name?: string;
  /** `--platform` value, unexpanded. */
  platform?: string;
}

export function parseFrom(instruction: ParsedInstruction, escapeChar: string): FromParts {
  const flags = checkFlags(instruction.flags, { platform: 'string' });
  const words = splitRawWords(instruction.rest, escapeChar);
  if (!(words.length === 1 || (words.length === 3 && words[1]!.toUpperCase() === 'AS'))) {
    throw new BuildError('DOCKERFILE_PARSE', 'FROM requires either one or three arguments');
  }
  const parts: FromParts = { image: words[0]! };
  const platform = flags.get('platform')?.[0];
  if (platform !== undefined) parts.platform = platform;
  if (words.length === 3) {
    const name = words[2]!.toLowerCase();
    if (!STAGE_NAME.test(name)) {
      throw new BuildError('DOCKERFILE_INVALID', `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
    }
    if (RESERVED.has(name)) throw new BuildError('DOCKERFILE_INVALID', `"${name}" is a reserved stage name`);
    parts.name = name;
  }
  return parts;
}
