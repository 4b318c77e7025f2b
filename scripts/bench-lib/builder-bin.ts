import { join } from 'node:path';

/**
 * The `builder` command as users run it: bin/builder (package.json "bin"), the sh launcher that starts node on
 * dist/builder/cli/main.js with NODE_EXTRA_CA_CERTS deferred to the first TLS connection. Every bench times it,
 * not `node main.js`, so the numbers are what a user on this machine gets.
 */
export function builderBin(repoDir: string): string {
  return join(repoDir, 'bin', 'builder');
}
