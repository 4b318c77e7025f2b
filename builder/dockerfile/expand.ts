/**
 * ARG/ENV substitution as BuildKit's shell lexer does it: `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR:+w}`,
 * `${VAR-w}`, `${VAR+w}`, `${VAR:?w}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`,
 * with the escape character, single quotes (literal) and double quotes (expanding), and quote removal.
 */
import { BuildError } from '../errors.js';
import { trimPattern, replacePattern } from './pattern.js';

/** Where variable values come from: a map, a record, or a lookup (undefined = unset). */
export type VariableSource = Map<string, string> | Record<string, string> | ((name: string) => string | undefined);

export interface ExpandOptions {
  escapeChar?: string;
  /** Heredoc bodies: quotes are ordinary characters, only `$` and escapes are processed. */
  keepQuotes?: boolean;
  /** Remove every escape character (keeping the character after it), as BuildKit's lexer does for a COPY heredoc body. */
  dropEscapes?: boolean;
}

function toLookup(env: VariableSource): (name: string) => string | undefined {
  if (typeof env === 'function') return env;
  if (env instanceof Map) return (name) => env.get(name);
  return (name) => (Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined);
}

/** Expands one word: variables substituted, quotes and escapes removed, whitespace kept. */
export function expandWord(word: string, env: VariableSource, escapeChar = '\\'): string {
  return new Lexer(word, toLookup(env), { escapeChar }, false).run().join('');
}

/** Expands and splits into words on unquoted whitespace (including whitespace produced by unquoted variables). */
export function expandWords(text: string, env: VariableSource, escapeChar = '\\'): string[] {
  return new Lexer(text, toLookup(env), { escapeChar }, true).run();
}

/** Expands variables in a heredoc body, leaving quotes alone. */
export function expandHeredoc(text: string, env: VariableSource, escapeChar = '\\'): string {
  return new Lexer(text, toLookup(env), { escapeChar, keepQuotes: true }, false).run().join('');
}

/**
 * A COPY/ADD heredoc body with an unquoted name, as BuildKit expands it (ExpandRaw: a lexer with the
 * backslash as escape whatever `# escape=` says, quotes not processed): `\\$` gives `$`, `\\\\` gives `\\`,
 * any other `\\c` gives `c`, a backslash before a newline leaves the newline.
 */
export function expandHeredocBody(text: string, env: VariableSource): string {
  return new Lexer(text, toLookup(env), { escapeChar: '\\', keepQuotes: true, dropEscapes: true }, false).run().join('');
}

/** BuildKit's processName: a run of digits (a positional parameter), one special parameter, or letters/digits/_ (Unicode letters too). */
const DIGITS = /\p{Nd}+/uy;
const NAME = /[\p{L}\p{Nd}_]+/uy;
const SPECIAL_PARAMS = '@*#?-$!0';
/** `${A:-${B:-…}}` deeper than this is refused: the lexer recurses once per level (BuildKit has no real Dockerfile this deep either). */
const MAX_NESTING = 64;

/** A word quoted in an error: enough to find it, never a whole 64 KiB line. */
function shown(src: string): string {
  return src.length > 120 ? `${src.slice(0, 120)}…` : src;
}

class Lexer {
  private pos = 0;
  private depth = 0;
  private readonly words: string[] = [];
  private current = '';
  private inWord = false;
  private readonly escape: string;
  private readonly keepQuotes: boolean;
  private readonly dropEscapes: boolean;
  /** Inside the word of `#`, `%` or `/`: escapes stay for the pattern (BuildKit's processStopOn(…, rawEscapes)). */
  private rawEscapes = false;

  constructor(
    private readonly src: string,
    private readonly lookup: (name: string) => string | undefined,
    options: ExpandOptions,
    private split: boolean,
  ) {
    this.escape = options.escapeChar ?? '\\';
    this.keepQuotes = options.keepQuotes ?? false;
    this.dropEscapes = options.dropEscapes ?? false;
  }

  run(): string[] {
    this.processUntil(undefined);
    this.endWord();
    return this.split ? this.words : [this.words.join('')];
  }

  private add(text: string): void {
    this.current += text;
    this.inWord = true;
  }

  private endWord(): void {
    if (this.inWord) this.words.push(this.current);
    this.current = '';
    this.inWord = false;
  }

  /** Adds an unquoted expansion: split mode breaks it on whitespace like the shell does. */
  private addUnquoted(value: string): void {
    if (!this.split) return this.add(value);
    for (const ch of value) {
      if (/\s/.test(ch)) this.endWord();
      else this.add(ch);
    }
  }

  /** Top level (stop undefined) or the word inside `${…}` (stop `}` or `/`). */
  private processUntil(stop: string | undefined): void {
    const src = this.src;
    while (this.pos < src.length) {
      const ch = src[this.pos]!;
      if (stop !== undefined && stop.includes(ch)) return;
      if (ch === this.escape) {
        this.pos++;
        // A lone escape at the very end goes (BuildKit: `hello\` gives `hello`), except in raw words.
        if (this.pos >= src.length) {
          if (this.rawEscapes || (this.keepQuotes && !this.dropEscapes)) this.add(ch);
          break;
        }
        const next = src[this.pos]!;
        // Pattern words (`${V#p}`, `${V/p/r}`) keep every escape for the pattern matcher, as BuildKit's rawEscapes.
        if (this.rawEscapes) this.add(ch);
        // JSON words keep escapes that do not protect a `$`, so `printf "a\n"` survives.
        else if (this.keepQuotes && !this.dropEscapes && next !== '$' && next !== this.escape) this.add(ch);
        this.add(next);
        this.pos++;
      } else if (!this.keepQuotes && ch === "'") {
        this.singleQuoted();
      } else if (!this.keepQuotes && ch === '"') {
        this.doubleQuoted();
      } else if (ch === '$') {
        this.addUnquoted(this.dollar());
      } else if (stop === undefined && this.split && /\s/.test(ch)) {
        this.endWord();
        this.pos++;
      } else {
        this.add(ch);
        this.pos++;
      }
    }
  }

  private singleQuoted(): void {
    const end = this.src.indexOf("'", this.pos + 1);
    if (end < 0) throw parseError('unexpected end of statement while looking for matching single-quote');
    this.add(this.src.slice(this.pos + 1, end));
    this.pos = end + 1;
  }

  private doubleQuoted(): void {
    const src = this.src;
    this.pos++;
    this.add('');
    while (this.pos < src.length) {
      const ch = src[this.pos]!;
      if (ch === '"') {
        this.pos++;
        return;
      }
      if (ch === '$') {
        this.add(this.dollar());
        continue;
      }
      if (ch === this.escape && this.pos + 1 < src.length) {
        const next = src[this.pos + 1]!;
        if (next === '"' || next === '$' || next === this.escape) {
          this.add(this.rawEscapes ? ch + next : next);
          this.pos += 2;
          continue;
        }
      }
      this.add(ch);
      this.pos++;
    }
    throw parseError('unexpected end of statement while looking for matching double-quote');
  }

  /** At a `$`: returns the substituted value and moves past the reference. */
  private dollar(): string {
    const src = this.src;
    this.pos++;
    const ch = src[this.pos];
    if (ch === '{') {
      this.pos++;
      if (++this.depth > MAX_NESTING) throw parseError(`variable substitutions nested more than ${MAX_NESTING} levels deep in "${shown(src)}"`);
      try {
        return this.braced();
      } finally {
        this.depth--;
      }
    }
    const name = this.readName();
    if (name === '') return '$';
    return this.lookup(name) ?? '';
  }

  /** BuildKit's processName: `$12x` names `12`, `$@x` names `@`, `$안녕` names `안녕`; '' when none starts here. */
  private readName(): string {
    DIGITS.lastIndex = this.pos;
    const digits = DIGITS.exec(this.src);
    if (digits) {
      this.pos += digits[0].length;
      return digits[0];
    }
    const ch = this.src[this.pos];
    if (ch !== undefined && SPECIAL_PARAMS.includes(ch)) {
      this.pos++;
      return ch;
    }
    NAME.lastIndex = this.pos;
    const name = NAME.exec(this.src)?.[0] ?? '';
    this.pos += name.length;
    return name;
  }

  /** Inside `${`: name, optional modifier and word, closing brace. */
  private braced(): string {
    const src = this.src;
    const first = src[this.pos];
    if (first === undefined) throw parseError(`missing '}' in substitution "${shown(src)}"`);
    if (first === '{' || first === '}' || first === ':') throw parseError(`bad substitution in "${shown(src)}"`);
    const name = this.readName();
    let op = src[this.pos];
    if (op === undefined) throw parseError(`missing '}' in substitution "${shown(src)}"`);
    // BuildKit reads `${+x}` or `${%x}` as a modifier on the unset variable ''; any other character there is an error.
    if (name === '' && !'-+?#%/'.includes(op)) throw parseError(`bad substitution in "${shown(src)}"`);
    const value = name === '' ? undefined : this.lookup(name);
    if (op === '}') {
      this.pos++;
      return value ?? '';
    }
    this.pos++;
    if (op === '/') return this.replaceOp(value);
    let colon = false;
    if (op === ':') {
      colon = true;
      op = src[this.pos];
      this.pos++;
      if (op !== '-' && op !== '+' && op !== '?') throw parseError(`unsupported modifier (:${op ?? ''}) in substitution "${shown(src)}"`);
    }
    if (op === undefined || !'-+?#%'.includes(op)) throw parseError(`unsupported modifier (${op ?? 'end of word'}) in substitution "${shown(src)}"`);
    const pattern = op === '#' || op === '%';
    let word = this.subWord('}', pattern);
    if (src[this.pos] !== '}') throw parseError(`missing '}' in substitution "${shown(src)}"`);
    this.pos++;
    const isSet = colon ? value !== undefined && value !== '' : value !== undefined;
    switch (op) {
      case '-':
        return isSet ? value! : word;
      case '+':
        return isSet ? word : '';
      case '?':
        if (value === undefined) throw new BuildError('DOCKERFILE_INVALID', `${name}: ${word || 'is not allowed to be unset'}`);
        if (!isSet) throw new BuildError('DOCKERFILE_INVALID', `${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      default: {
        // `##`/`%%`: BuildKit looks at the first character of the processed word, so `${V#$P}` with P=`#x` is greedy too.
        const longest = word.startsWith(op);
        if (longest) word = word.slice(1);
        return trimPattern(value ?? '', word, op === '#' ? 'prefix' : 'suffix', longest);
      }
    }
  }

  /** After `${V/`: `/pattern/replacement}` or `//pattern/replacement}`; the pattern runs to the next unescaped `/`. */
  private replaceOp(value: string | undefined): string {
    const src = this.src;
    const all = src[this.pos] === '/';
    if (all) this.pos++;
    const pattern = this.subWord('/', true);
    if (src[this.pos] !== '/') throw parseError(`missing '/' in substitution "${shown(src)}"`);
    this.pos++;
    const replacement = this.subWord('}', true);
    if (src[this.pos] !== '}') throw parseError(`missing '}' in substitution "${shown(src)}"`);
    this.pos++;
    return replacePattern(value ?? '', pattern, replacement, all);
  }

  /** The word of a modifier, itself expanded (quotes removed), without splitting; `raw` keeps escapes (patterns). */
  private subWord(stop: string, raw = false): string {
    const saved = { words: this.words.splice(0), current: this.current, inWord: this.inWord };
    this.current = '';
    this.inWord = false;
    const splitWas = this.split;
    const rawWas = this.rawEscapes;
    this.split = false;
    this.rawEscapes = raw;
    this.processUntil(stop);
    const word = this.current;
    this.split = splitWas;
    this.rawEscapes = rawWas;
    this.words.push(...saved.words);
    this.current = saved.current;
    this.inWord = saved.inWord;
    return word;
  }
}

function parseError(message: string): BuildError {
  return new BuildError('DOCKERFILE_PARSE', message);
}
