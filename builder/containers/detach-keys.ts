import { Transform, type TransformCallback } from 'node:stream';
import { BuildError } from '../errors.js';

/** Docker's default detach sequence: ctrl-p then ctrl-q. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

const CONTROL_SPECIALS: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, '_': 31 };

/**
 * Parses docker's `--detach-keys` form: comma-separated keys, each a single character or `ctrl-<value>` where value
 * is a letter or one of `@[\]^_` (docker's term.ToBytes). An empty string turns detaching off.
 */
export function parseDetachKeys(spec: string): Buffer {
  if (spec === '') return Buffer.alloc(0);
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const ctrl = /^ctrl-(.)$/i.exec(key);
    if (ctrl) {
      const value = ctrl[1]!.toLowerCase();
      if (/[a-z]/.test(value)) bytes.push(value.charCodeAt(0) - 96);
      else if (value in CONTROL_SPECIALS) bytes.push(CONTROL_SPECIALS[value]!);
      else throw new BuildError('INVALID_ARGUMENT', `invalid detach keys (${spec}): unknown character: '${value}'`);
    } else if (key.length === 1) bytes.push(key.charCodeAt(0));
    else throw new BuildError('INVALID_ARGUMENT', `invalid detach keys (${spec}): unknown character: '${key}'`);
  }
  return Buffer.from(bytes);
}

/**
 * Passes input through until the detach sequence is typed, then emits `detach` and ends (the sequence itself is not
 * forwarded). Bytes that start the sequence are held until it either completes or breaks, as docker's copier does.
 */
export class DetachKeyFilter extends Transform {
  private matched = 0;
  detached = false;

  constructor(private readonly keys: Buffer) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.detached) return callback();
    if (this.keys.length === 0) return callback(null, chunk);
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched += 1;
        if (this.matched === this.keys.length) {
          this.detached = true;
          if (out.length > 0) this.push(Buffer.from(out));
          this.emit('detach');
          this.push(null);
          return callback();
        }
        continue;
      }
      if (this.matched > 0) out.push(...this.keys.subarray(0, this.matched));
      this.matched = byte === this.keys[0] ? 1 : 0;
      if (this.matched === 0) out.push(byte);
    }
    callback(null, out.length > 0 ? Buffer.from(out) : undefined);
  }
}
