/** Heredocs (`RUN <<EOF`, `COPY <<-"A" /x`): markers in the instruction line, bodies from the lines after it. */
import { BuildError } from '../errors.js';
import type { Heredoc } from './types.js';
import { expandWord } from './expand.js';
import { splitRawWords } from './words.js';

/** Instructions whose arguments may open heredocs (BuildKit's heredocsAllowed). */
export const HEREDOC_KEYWORDS: ReadonlySet<string> = new Set(['RUN', 'COPY', 'ADD']);

export interface HeredocMarker {
  /** The word as written, e.g. `<<-"EOF"`. */
  word: string;
  name: string;
  chomp: boolean;
  expand: boolean;
}

/** BuildKit's reHeredoc: `<<`, an optional `-`, optional whitespace, then the name (possibly empty: no heredoc). */
const MARKER = /^(\d*)<<(-?)\s*([^<]*)$/;

/**
 * An instruction's raw words as BuildKit's lexer makes them for heredocs: an unquoted `<<` keeps the whitespace
 * after it and the next word (processPossibleHeredoc), so `cat << EOF` has the word `<< EOF`.
 */
export function heredocWords(args: string, escapeChar: string): string[] {
  const words = splitRawWords(args, escapeChar);
  const joined: string[] = [];
  for (let i = 0; i < words.length; i++) {
    let word = words[i]!;
    while (endsWithHeredocOperator(word, escapeChar) && i + 1 < words.length) word = `${word} ${words[++i]!}`;
    joined.push(word);
  }
  return joined;
}

/** The word ends in an unescaped `<<` (a raw word's quotes are balanced, so it is outside quotes). */
function endsWithHeredocOperator(word: string, escapeChar: string): boolean {
  if (!word.endsWith('<<')) return false;
  let escapes = 0;
  for (let i = word.length - 3; i >= 0 && word[i] === escapeChar; i--) escapes++;
  return escapes % 2 === 0;
}

/** The heredoc markers among the words of an instruction's arguments, in order. */
export function findHeredocMarkers(args: string, escapeChar: string): HeredocMarker[] {
  const markers: HeredocMarker[] = [];
  for (const word of heredocWords(args, escapeChar)) {
    const match = MARKER.exec(word);
    if (!match) continue;
    const rawName = match[3]!;
    if (rawName === '') continue;
    const name = expandWord(rawName, {}, escapeChar);
    if (name === '') continue;
    // BuildKit expands the body unless part of the name is quoted (its quote counts with and without RawQuotes
    // differ); an escaped character alone (`<<E\OF`) does not stop the expansion.
    const unescaped = rawName.replace(escapeChar === '`' ? /`[\s\S]/g : /\\[\s\S]/g, '');
    const quoted = /["']/.test(unescaped);
    markers.push({ word, name, chomp: match[2] === '-', expand: !quoted });
  }
  return markers;
}

/**
 * Reads each marker's body from `lines` starting at index `start`; returns the bodies and the index of the
 * last line consumed (the last terminator).
 */
export function readHeredocBodies(
  lines: readonly string[],
  start: number,
  markers: readonly HeredocMarker[],
): { heredocs: Heredoc[]; lastLine: number } {
  const heredocs: Heredoc[] = [];
  let index = start;
  for (const marker of markers) {
    const body: string[] = [];
    for (;;) {
      if (index >= lines.length) {
        throw new BuildError('DOCKERFILE_PARSE', `unterminated heredoc: no line "${marker.name}" closes <<${marker.name}`);
      }
      const raw = lines[index++]!;
      const text = marker.chomp ? raw.replace(/^\t+/, '') : raw;
      if (text === marker.name) break;
      body.push(text);
    }
    heredocs.push({
      name: marker.name,
      content: body.map((line) => line + '\n').join(''),
      chomp: marker.chomp,
      expand: marker.expand,
    });
  }
  return { heredocs, lastLine: index - 1 };
}
