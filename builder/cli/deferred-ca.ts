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
type Crypto = typeof import('node:crypto');
/** Builtins loaded on first use: deferring costs nothing to a process that never gets there. */
const load = createRequire(import.meta.url);

/** The options that change a secure context (Node 20's createSecureContext/configSecureContext read these). */
const CONTEXT_OPTIONS = [
  'allowPartialTrustChain', 'cert', 'ciphers', 'clientCertEngine', 'crl', 'dhparam', 'ecdhCurve', 'honorCipherOrder',
  'key', 'maxVersion', 'minVersion', 'passphrase', 'pfx', 'privateKeyEngine', 'privateKeyIdentifier', 'secureOptions',
  'secureProtocol', 'sessionIdContext', 'sessionTimeout', 'sigalgs', 'ticketKeys',
] as const;

const PEM_CERTIFICATE = /-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----[\s\S]*?-----END (?:X509 |TRUSTED )?CERTIFICATE-----/g;

/** Set once the hook is installed: the file whose certificates it adds. */
let deferredFile: string | undefined;

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
  const tls = load('node:tls') as Tls;
  const original = tls.createSecureContext;
  let shared: SecureContext | undefined;
  let ca: string[] | undefined;
  const withExtra = (options: SecureContextOptions | undefined): SecureContext => {
    if (options?.ca) return original(options);
    ca ??= [...tls.rootCertificates, ...readExtra(file)];
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

/**
 * The file's certificates as Node reads them: every CERTIFICATE block up to the first that does not parse, with
 * Node's warning (once) for an unreadable file or a bad block; the process goes on with what was read.
 * Parsing all ~150 blocks as X509Certificate would cost as much again as the context itself (~25 ms), so a block
 * is parsed only when its DER is not one whole SEQUENCE (truncated, garbage), which is what such files go wrong by.
 */
function readExtra(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (err) {
    warn(file, (err as Error).message);
    return [];
  }
  const good: string[] = [];
  const { X509Certificate } = load('node:crypto') as Crypto;
  for (const pem of text.match(PEM_CERTIFICATE) ?? []) {
    if (!derIsWhole(pem)) {
      try {
        new X509Certificate(pem);
      } catch (err) {
        warn(file, (err as Error).message);
        break;
      }
    }
    good.push(pem);
  }
  return good;
}

/** True when the block's base64 is one DER SEQUENCE whose length is the block's (a certificate's outer shape). */
function derIsWhole(pem: string): boolean {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, ''), 'base64');
  if (der.length < 2 || der[0] !== 0x30) return false;
  const first = der[1]!;
  if (first < 0x80) return 2 + first === der.length;
  const octets = first & 0x7f;
  if (octets === 0 || octets > 4 || der.length < 2 + octets) return false;
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + der[2 + i]!;
  return 2 + octets + length === der.length;
}

function warn(file: string, reason: string): void {
  process.stderr.write(`Warning: Ignoring extra certs from \`${file}\`, load failed: ${reason}\n`);
}
