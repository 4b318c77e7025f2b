/** Splitting instruction arguments into words before expansion (quotes and escapes kept, as BuildKit's parseWords). */
import { BuildError } from '../errors.js';

/** Splits on unquoted whitespace; quotes and escapes stay in the words for the expander to remove. */
export function splitRawWords(text: string, escapeChar: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === escapeChar && quote !== "'" && i + 1 < text.length) {
      word += ch + text[++i]!;
      inWord = true;
    } else if (quote) {
      if (ch === quote) quote = undefined;
      word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word += ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The exec (JSON) form: an array of strings, or undefined when the text is not one (then it is shell form). */
export function parseJsonArray(text: string): string[] | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  // BuildKit's parseJSON: valid JSON that is not an array of strings (`[["a"]]`, `["a", 1]`) is an error,
  // never the shell form.
  if (!value.every((item): item is string => typeof item === 'string')) {
    throw new BuildError('DOCKERFILE_PARSE', 'when using JSON array syntax, arrays must be comprised of strings only');
  }
  return value;
}

/**
 * `ENV a=b c="d e"` or the legacy `ENV a b c` (value = the rest of the line), as raw [key, value] pairs.
 * Used by ENV and LABEL.
 */
export function parseNameValues(keyword: string, rest: string, escapeChar: string): [string, string][] {
  const words = splitRawWords(rest, escapeChar);
  if (words.length === 0) throw new BuildError('DOCKERFILE_PARSE', `${keyword} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    const match = /^(\S+)\s+([\s\S]+)$/.exec(rest.trim());
    if (!match) throw new BuildError('DOCKERFILE_PARSE', `${keyword} must have two arguments`);
    return [[match[1]!, match[2]!]];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) {
      throw new BuildError('DOCKERFILE_PARSE', `Syntax error - can't find = in "${word}". Must be of the form: name=value`);
    }
    return [word.slice(0, eq), word.slice(eq + 1)];
  });
}
