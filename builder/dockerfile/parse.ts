/**
 * Dockerfile text → instructions: parser directives (as BuildKit's DirectiveParser), where instructions start,
 * the logical line (continuations joined, comment and empty lines inside skipped) and heredoc bodies are read here as
 * BuildKit reads them, so line numbers and text match what BuildKit reports.
 */
import { BuildError } from '../errors.js';
import type { Heredoc } from './types.js';
import { extractFlags, type RawFlag } from './flags.js';
import { findHeredocMarkers, readHeredocBodies, HEREDOC_KEYWORDS } from './heredoc.js';

/** One instruction as written, before validation and expansion. */
export interface ParsedInstruction {
  /** Upper-cased keyword, e.g. `RUN`. */
  keyword: string;
  /** 1-based first and last line (the last heredoc terminator for heredocs). */
  line: number;
  endLine: number;
  /** Keyword and arguments as written, continuations joined (heredoc bodies not included). */
  source: string;
  /** Leading `--flags`, raw. */
  flags: RawFlag[];
  /** Arguments after the flags, raw (quotes and variables untouched). */
  rest: string;
  heredocs: Heredoc[];
}

export interface ParsedDockerfile {
  escapeChar: string;
  instructions: ParsedInstruction[];
}

/** BuildKit's limit (bufio.MaxScanTokenSize - 1): a longer physical line is refused before dockerfile-ast sees it. */
export const MAX_LINE_BYTES = 65535;

export function parseDockerfile(content: string): ParsedDockerfile {
  content = content.replace(/^\uFEFF/, '');
  checkLineLengths(content);
  const escapeChar = parseDirectives(content).escape ?? '\\';
  const lines = content.split('\n').map((line) => line.replace(/\r$/, ''));
  const instructions: ParsedInstruction[] = [];
  // Instruction starts are found here, not taken from dockerfile-ast: it reads `\\` at a line's end as a
  // continuation, where BuildKit ends the instruction (an escaped escape character is a value).
  for (let index = 0; index < lines.length;) {
    const line = lines[index]!;
    if (isComment(line) || isBlank(line) || trimContinuation(line.trimStart(), escapeChar).text.trim() === '') {
      index++;
      continue;
    }
    const instruction = readInstruction(lines, index, escapeChar);
    instructions.push(instruction);
    index = instruction.endLine;
  }
  return { escapeChar, instructions };
}

/** BuildKit's DirectiveParser: `# key=value` with a known key, leading whitespace allowed. */
const DIRECTIVE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const KNOWN_DIRECTIVES = new Set(['escape', 'syntax', 'check']);

/**
 * The parser directives at the top, as BuildKit's DirectiveParser reads them: the first line that is not one
 * (a blank line, another comment, an unknown `# key=value`, an instruction) ends them, so an `escape` after it
 * is a comment; a directive given twice is an error at its line.
 */
export function parseDirectives(content: string): { escape?: string } {
  const seen = new Set<string>();
  let escape: string | undefined;
  let start = 0;
  for (let line = 1; start <= content.length; line++) {
    const newline = content.indexOf('\n', start);
    const text = content.slice(start, newline === -1 ? content.length : newline).replace(/\r$/, '').replace(/^[ \t]+/, '');
    start = newline === -1 ? content.length + 1 : newline + 1;
    const match = DIRECTIVE.exec(text);
    const key = match?.[1]!.toLowerCase();
    if (!match || !key || !KNOWN_DIRECTIVES.has(key)) break;
    if (seen.has(key)) throw new BuildError('DOCKERFILE_PARSE', `only one ${key} parser directive can be used`, { line });
    seen.add(key);
    if (key !== 'escape') continue;
    const value = match[2]!;
    if (value !== '\\' && value !== '`') {
      throw new BuildError('DOCKERFILE_PARSE', `invalid escape token '${value}' does not match \` or \\`, { line });
    }
    escape = value;
  }
  return escape === undefined ? {} : { escape };
}

/**
 * The leading lines that are comments or blank: parser directives can only be there (dockerfile-ast agrees: it
 * reports none after the first other line). dockerfile-ast is asked about this part only, because building its
 * whole tree (positions, ranges, every argument a character at a time) was most of a cached rebuild's parse.
 */
export function directivePrefix(content: string): string {
  let end = 0;
  while (end < content.length) {
    const newline = content.indexOf('\n', end);
    const stop = newline === -1 ? content.length : newline;
    if (!/^\s*(#.*)?$/.test(content.slice(end, stop).replace(/\r$/, ''))) break;
    end = stop + 1;
  }
  return content.slice(0, end);
}

/** Parses one instruction from text (an ONBUILD trigger); its location is `line`. */
export function parseInstruction(text: string, line: number, escapeChar = '\\'): ParsedInstruction {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const parsed = readInstruction(lines, 0, escapeChar);
  return { ...parsed, line, endLine: line };
}

function checkLineLengths(content: string): void {
  let start = 0;
  for (let line = 1; start <= content.length; line++) {
    let end = content.indexOf('\n', start);
    if (end === -1) end = content.length;
    // A UTF-16 length of at most a quarter of the limit cannot exceed it in UTF-8 bytes.
    if (end - start > MAX_LINE_BYTES / 4 && Buffer.byteLength(content.slice(start, end)) > MAX_LINE_BYTES) {
      throw new BuildError('DOCKERFILE_PARSE', `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`, { line });
    }
    start = end + 1;
  }
}

const isComment = (line: string): boolean => /^\s*#/.test(line);
const isBlank = (line: string): boolean => line.trim() === '';

/** Reads the logical instruction starting at 0-based `start`. */
function readInstruction(lines: readonly string[], start: number, escapeChar: string): ParsedInstruction {
  let index = start;
  let { text, continued } = trimContinuation(lines[index]!.trimStart(), escapeChar);
  while (continued && index + 1 < lines.length) {
    index++;
    const next = lines[index]!;
    if (isComment(next) || isBlank(next)) continue;
    const part = trimContinuation(next, escapeChar);
    text += part.text;
    continued = part.continued;
  }
  const match = /^(\S+)\s*([\s\S]*)$/.exec(text.trim());
  if (!match) throw new BuildError('DOCKERFILE_PARSE', 'empty instruction: a line continuation with nothing before or after it', { line: start + 1 });
  const written = match[1]!;
  const keyword = written.toUpperCase();
  const args = match[2]!.trim();
  const { flags, rest } = extractFlags(args, escapeChar);
  let heredocs: Heredoc[] = [];
  // `ONBUILD RUN <<EOF` carries its heredocs too (BuildKit's heredocCompoundDirectives).
  const trigger = keyword === 'ONBUILD' ? /^(\S+)\s*([\s\S]*)$/.exec(rest.trim()) : null;
  const heredocKeyword = trigger ? trigger[1]!.toUpperCase() : keyword;
  const heredocArgs = trigger ? trigger[2]! : rest;
  if (HEREDOC_KEYWORDS.has(heredocKeyword) && !heredocArgs.trimStart().startsWith('[')) {
    const markers = findHeredocMarkers(heredocArgs, escapeChar);
    if (markers.length > 0) {
      try {
        const bodies = readHeredocBodies(lines, index + 1, markers);
        heredocs = bodies.heredocs;
        index = bodies.lastLine;
      } catch (err) {
        if (err instanceof BuildError) err.line = start + 1;
        throw err;
      }
    }
  }
  return {
    keyword,
    line: start + 1,
    endLine: index + 1,
    source: `${written} ${args}`.trim(),
    flags,
    rest: rest.trim(),
    heredocs,
  };
}

const CONTINUATION: Record<string, RegExp> = {
  '\\': /([^\\])\\[ \t]*$|^\\[ \t]*$/,
  '`': /([^`])`[ \t]*$|^`[ \t]*$/,
};

/**
 * Removes a trailing escape character (and whitespace after it) that continues the line. As in BuildKit's
 * lineContinuationRegex, an escape character preceded by another one (`value\\`) does not continue.
 */
function trimContinuation(line: string, escapeChar: string): { text: string; continued: boolean } {
  const pattern = CONTINUATION[escapeChar]!;
  if (pattern.test(line)) return { text: line.replace(pattern, '$1'), continued: true };
  return { text: line, continued: false };
}
