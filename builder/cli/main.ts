#!/usr/bin/env node
/**
 * The CLI's entry: runs the bundled CLI when `npm run build` wrote one (one file, V8 code cache: the
 * start-up floor of every command), else the plain modules. Both run the same program.ts. Users run it through
 * bin/builder, which defers NODE_EXTRA_CA_CERTS to the first TLS connection (deferred-ca.ts).
 */
import { loadBundle } from './bundle-loader.js';
import { installDeferredCa } from './deferred-ca.js';

installDeferredCa();
const entry = loadBundle(process.argv) ?? (await import('./program.js'));
await entry.main(process.argv);
