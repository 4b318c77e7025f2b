import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The environment for the CLI processes builder starts for itself (conmon's exit command `container cleanup`,
 * the healthcheck loop's `container healthcheck`). Node 20 parses NODE_EXTRA_CA_CERTS at start-up, before any
 * code runs: with a distribution's whole CA bundle there (as on this project's machines) that is ~30 ms of CPU
 * per process, three times Node's own start (docs/ARCHITECTURE.md, "Start-up cost"). Those processes never
 * open a TLS connection, so they go without it; everything else is inherited unchanged.
 */
export function internalNodeEnv(extra: Record<string, string> = {}, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _unused, ...rest } = env;
  return { ...rest, ...extra };
}

const CLI_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli');

/**
 * The CLI file those processes run: entry.cjs (what bin/builder runs: one CommonJS file, so Node starts no ESM
 * loader, ~7 ms of CPU less per call) when `npm run build` wrote it, else main.js.
 */
export function internalCliEntry(): string {
  const entry = path.join(CLI_DIR, 'entry.cjs');
  return existsSync(entry) ? entry : path.join(CLI_DIR, 'main.js');
}
