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

const MARKER = /^(\d*)<<(-?)([^<]+)$/;

/** The heredoc markers among the words of an instruction's arguments, in order. */
export function findHeredocMarkers(args: string, escapeChar: string): HeredocMarker[] {
  const markers: HeredocMarker[] = [];
  for (const word of splitRawWords(args, escapeChar)) {
    const match = MARKER.exec(word);
    if (!match) continue;
    const rawName = match[3]!;
    const name = expandWord(rawName, {}, escapeChar);
    if (name === '') continue;
    markers.push({ word, name, chomp: match[2] === '-', expand: rawName === name });
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
