/** COPY and ADD: flags, sources and destination (last argument), heredoc sources. */
import { BuildError } from '../../errors.js';
import { expandHeredoc, expandHeredocBody, expandWord } from '../expand.js';
import { checkFlags, type FlagSpec } from '../flags.js';
import type { ParsedInstruction } from '../parse.js';
import type { CopyStep } from '../types.js';
import { parseJsonArray, splitRawWords } from '../words.js';
import { stepBase, type InstructionContext } from './context.js';
import { findHeredocMarkers, heredocWords } from '../heredoc.js';
import { isGitSource } from '../../exec/add-git.js';

const COPY_FLAGS: FlagSpec = { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'strings' };
const ADD_FLAGS: FlagSpec = { chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'strings', checksum: 'string', 'keep-git-dir': 'bool', unpack: 'bool' };

/** Symbolic (`u+x,g-w`) modes, as BuildKit accepts them; octal ones are checked by value. */
const SYMBOLIC_CHMOD = /^[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*$/;

/** BuildKit's convert_copy.go: any octal string up to 07777 (`0` included), else a symbolic mode. */
function checkChmod(chmod: string): void {
  if (/^[0-7]+$/.test(chmod) ? parseInt(chmod, 8) <= 0o7777 : SYMBOLIC_CHMOD.test(chmod)) return;
  throw new BuildError('DOCKERFILE_INVALID', `invalid chmod parameter: '${chmod}'. it should be octal string and between 0 and 07777`);
}

export function copy(instruction: ParsedInstruction, context: InstructionContext): CopyStep {
  const isAdd = instruction.keyword === 'ADD';
  const flags = checkFlags(instruction.flags, isAdd ? ADD_FLAGS : COPY_FLAGS);
  const expand = (word: string): string => expandWord(word, context.lookup, context.escapeChar);
  const flag = (name: string): string | undefined => {
    const value = flags.get(name)?.[0];
    return value === undefined ? undefined : expand(value);
  };

  const json = parseJsonArray(instruction.rest);
  let args: string[];
  if (json) {
    args = json.map((word) => expandHeredoc(word, context.lookup, context.escapeChar));
  } else {
    const markers = new Map(findHeredocMarkers(instruction.rest, context.escapeChar).map((m) => [m.word, m.name]));
    args = heredocWords(instruction.rest, context.escapeChar).map((word) => markers.get(word) ?? expand(word));
  }
  if (args.length < 2) throw new BuildError('DOCKERFILE_PARSE', `${instruction.keyword} requires at least two arguments`);
  if (!isAdd) {
    // BuildKit's words (convert_copy.go): only ADD fetches URLs and git repositories.
    for (const source of args.slice(0, -1)) {
      if (isGitSource(source)) throw new BuildError('DOCKERFILE_INVALID', "source can't be a git ref for COPY");
      if (source.startsWith('http://') || source.startsWith('https://')) throw new BuildError('DOCKERFILE_INVALID', "source can't be a URL for COPY");
    }
  }

  const chmod = flag('chmod');
  if (chmod !== undefined) checkChmod(chmod);
  const fromValue = flags.get('from')?.[0];
  if (fromValue === '') throw new BuildError('DOCKERFILE_INVALID', '--from requires a stage name, index or image');
  // BuildKit resolves --from before any variable is known, and says so rather than guessing.
  if (fromValue !== undefined && expandWord(fromValue, {}, context.escapeChar) !== fromValue) {
    throw new BuildError('DOCKERFILE_INVALID', 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround');
  }
  const heredocs = instruction.heredocs.map((heredoc) =>
    heredoc.expand ? { ...heredoc, content: expandHeredocBody(heredoc.content, context.lookup) } : heredoc,
  );
  const step: CopyStep = {
    op: isAdd ? 'ADD' : 'COPY',
    ...stepBase(instruction),
    sources: args.slice(0, -1),
    dest: args[args.length - 1]!,
    link: flags.get('link')?.[0] === 'true',
    parents: flags.get('parents')?.[0] === 'true',
    exclude: (flags.get('exclude') ?? []).map(expand),
    heredocs,
  };
  if (fromValue !== undefined) step.from = context.resolveFrom(fromValue);
  const chown = flag('chown');
  if (chown !== undefined) step.chown = chown;
  if (chmod !== undefined) step.chmod = chmod;
  if (isAdd) {
    const checksum = flag('checksum');
    if (checksum !== undefined) {
      // BuildKit's convert_copy.go checks, in its order and words (a heredoc is not a source path there).
      const heredocNames = new Set(heredocs.map((doc) => doc.name));
      const paths = step.sources.filter((source) => !heredocNames.has(source));
      if (paths.length !== 1) throw new BuildError('DOCKERFILE_INVALID', "checksum can't be specified for multiple sources");
      const source = paths[0]!;
      if (!/^https?:\/\//.test(source) && !isGitSource(source)) throw new BuildError('DOCKERFILE_INVALID', 'checksum requires HTTP(S) or Git sources');
      step.checksum = checksum;
    }
    step.keepGitDir = flags.get('keep-git-dir')?.[0] === 'true';
    const unpack = flags.get('unpack')?.[0];
    if (unpack !== undefined) step.unpack = unpack === 'true';
  }
  return step;
}
