/**
 * NODE_EXTRA_CA_CERTS, loaded when the first TLS context is made instead of at process start.
 *
 * Why: Node 20 parses that file before any JavaScript runs, ~30 ms of CPU for a distribution's CA bundle (the
 * environment of this project's machines), while most builder commands never open a TLS connection. The
 * launcher (bin/builder) hands the variable over as BUILDER_EXTRA_CA_CERTS; this module puts it back into
 * process.env (so every child process inherits exactly what the user set: changing process.env does not make
 * this Node re-read it) and adds the certificates where Node would have: to every secure context made without
 * a `ca` of its own, whoever makes it (node:https, fetch/undici, ioredis, the OTLP exporter). Node's choice
 * between `ca` and its default store is `if (ca) … else addRootCerts()` (lib/internal/tls/secure-context.js),
 * so one hook on tls.createSecureContext, the function tls.connect and tls.Server call, covers them all.
 */
import { readFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { SecureContext, SecureContextOptions } from 'node:tls';

type Tls = typeof import('node:tls');

/** The options that change a secure context (Node 20's createSecureContext/configSecureContext read these). */
const CONTEXT_OPTIONS = [
  'allowPartialTrustChain', 'cert', 'ciphers', 'clientCertEngine', 'crl', 'dhparam', 'ecdhCurve', 'honorCipherOrder',
  'key', 'maxVersion', 'minVersion', 'passphrase', 'pfx', 'privateKeyEngine', 'privateKeyIdentifier', 'secureOptions',
  'secureProtocol', 'sessionIdContext', 'sessionTimeout', 'sigalgs', 'ticketKeys',
] as const;

const PEM_CERTIFICATE = /-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----[\s\S]*?-----END (?:X509 |TRUSTED )?CERTIFICATE-----/g;

/** Set once the hook is installed: the file whose certificates it adds. */
let deferredFile: string | undefined;

/** The file this process defers (undefined when Node loaded NODE_EXTRA_CA_CERTS itself, or there is none). */
export function deferredCaFile(): string | undefined {
  return deferredFile;
}

/**
 * Installs the hook when the launcher deferred the variable (BUILDER_EXTRA_CA_CERTS set); a no-op otherwise,
 * so `node dist/builder/cli/main.js` with NODE_EXTRA_CA_CERTS behaves as it always did.
 */
export function installDeferredCa(env: NodeJS.ProcessEnv = process.env): void {
  const file = env.BUILDER_EXTRA_CA_CERTS;
  if (file === undefined) return;
  delete env.BUILDER_EXTRA_CA_CERTS;
  env.NODE_EXTRA_CA_CERTS = file;
  if (file === '' || deferredFile !== undefined) return;
  deferredFile = file;
  // Loaded here, not imported: node:tls is only cheap (0.4 ms) once node:crypto is loaded, which every path that
  // gets here does anyway, but a static import would load it for `node main.js` too.
  const tls = createRequire(import.meta.url)('node:tls') as Tls;
  const original = tls.createSecureContext;
  let shared: SecureContext | undefined;
  let ca: string[] | undefined;
  const withExtra = (options: SecureContextOptions | undefined): SecureContext => {
    if (options?.ca) return original(options);
    ca ??= [...tls.rootCertificates, ...readExtra(file, (pems) => probe(original, pems))];
    // A plain client context (all the registry, ADD and fetch connections) is the same for every connection:
    // made once, as Node's default store is, since parsing ~300 certificates costs ~30 ms each time.
    const given = (options ?? {}) as Record<string, unknown>;
    const plain = CONTEXT_OPTIONS.every((name) => given[name] === undefined);
    if (plain) return (shared ??= original({ ca }));
    return original({ ...options, ca });
  };
  tls.createSecureContext = withExtra;
  // `import { createSecureContext } from 'node:tls'` sees the hook too.
  syncBuiltinESMExports();
}

/** True when every PEM parses (createSecureContext throws on the first bad one). */
function probe(original: Tls['createSecureContext'], pems: string[]): boolean {
  try {
    original({ ca: pems });
    return true;
  } catch {
    return false;
  }
}

/**
 * The file's certificates as Node reads them: every CERTIFICATE block up to the first that does not parse;
 * an unreadable file or a bad block gives Node's warning, once, and the rest of the process goes on without.
 */
function readExtra(file: string, allParse: (pems: string[]) => boolean): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (err) {
    warn(file, (err as Error).message);
    return [];
  }
  const pems = text.match(PEM_CERTIFICATE) ?? [];
  if (allParse(pems)) return pems;
  const good: string[] = [];
  for (const pem of pems) {
    if (!allParse([pem])) {
      warn(file, `certificate ${good.length + 1} does not parse`);
      break;
    }
    good.push(pem);
  }
  return good;
}

function warn(file: string, reason: string): void {
  process.stderr.write(`Warning: Ignoring extra certs from \`${file}\`, load failed: ${reason}\n`);
}
