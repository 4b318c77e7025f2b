/** Signal names as docker takes them (kill -s, --stop-signal, stop's signal); small so create need not load lifecycle.ts. */
import { constants as osConstants } from 'node:os';
import { BuildError } from '../errors.js';

/** `SIGTERM`, `TERM`, `15` → `TERM` (runc's form); unknown → INVALID_ARGUMENT. */
export function normalizeSignal(signal: string): string {
  const upper = signal.toUpperCase().replace(/^SIG/, '');
  if (/^\d+$/.test(upper)) {
    const number = Number(upper);
    const name = Object.entries(osConstants.signals).find(([, value]) => value === number)?.[0];
    if (!name || number <= 0) throw new BuildError('INVALID_ARGUMENT', `Invalid signal: ${signal}`);
    return name.replace(/^SIG/, '');
  }
  if (!(`SIG${upper}` in osConstants.signals)) throw new BuildError('INVALID_ARGUMENT', `Invalid signal: ${signal}`);
  return upper;
}
