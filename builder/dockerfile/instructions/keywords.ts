/** The instruction keywords the Dockerfile frontend knows, and the "did you mean" check. */
import { BuildError } from '../../errors.js';
import { suggest } from '../suggest.js';

export const KEYWORDS = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;

const KNOWN: ReadonlySet<string> = new Set(KEYWORDS);

/** Throws UNKNOWN_INSTRUCTION (with a suggestion when one is close) for an unknown keyword. */
export function checkKeyword(keyword: string): void {
  if (KNOWN.has(keyword.toUpperCase())) return;
  // Clipped: the "keyword" of a file that is not a Dockerfile may be a whole long line of it.
  const shown = keyword.length > 64 ? `${keyword.slice(0, 64)}…` : keyword;
  const close = keyword.length > 64 ? undefined : suggest(keyword, KEYWORDS);
  throw new BuildError('UNKNOWN_INSTRUCTION', `unknown instruction: ${shown}${close ? ` (did you mean ${close}?)` : ''}`);
}
