/**
 * installDeferredCa in a fresh node process each (it hooks node:tls for the whole process): the variable goes back
 * into the environment, contexts without a `ca` of their own get the extra certificates (one shared plain client
 * context), those with one are left alone, and without BUILDER_EXTRA_CA_CERTS nothing changes.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeTestPki } from '../../test/helpers/registry-server.js';

const MODULE = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'deferred-ca.js')).href;

/** Runs `body` (an ES module) after installing the hook; returns what it printed as JSON. */
function probe(env: Record<string, string | undefined>, body: string): Record<string, unknown> {
  const script = `import { installDeferredCa } from ${JSON.stringify(MODULE)};\nimport tls from 'node:tls';\nimport fs from 'node:fs';\n`
    + `const original = tls.createSecureContext;\ninstallDeferredCa();\n${body}`;
  const { NODE_EXTRA_CA_CERTS: _dropped, BUILDER_EXTRA_CA_CERTS: _also, ...rest } = process.env;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...rest, ...env } as NodeJS.ProcessEnv, encoding: 'utf8' });
  return JSON.parse(out) as Record<string, unknown>;
}

describe('deferred NODE_EXTRA_CA_CERTS (installDeferredCa)', function () {
  this.timeout(30_000);
  let dir = '';
  let ca = '';
  let cert = '';
  let key = '';
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'deferred-ca-'));
    ({ ca, certificate: cert, key } = makeTestPki(dir));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('puts the variable back and adds the certificates to contexts without a ca of their own', () => {
    const result = probe({ BUILDER_EXTRA_CA_CERTS: ca }, `
      const plain = tls.createSecureContext();
      const own = tls.createSecureContext({ ca: tls.rootCertificates[0] });
      const withCiphers = tls.createSecureContext({ ciphers: 'HIGH' });
      const server = tls.createServer({ cert: fs.readFileSync(${JSON.stringify(cert)}), key: fs.readFileSync(${JSON.stringify(key)}) }, (s) => s.end());
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const authorized = await new Promise((resolve) => {
        const socket = tls.connect({ port: server.address().port, host: '127.0.0.1' }, () => { resolve(socket.authorized); socket.destroy(); });
        socket.on('error', (err) => resolve(err.code));
      });
      server.close();
      console.log(JSON.stringify({ authorized,
        env: process.env.NODE_EXTRA_CA_CERTS, handedOver: process.env.BUILDER_EXTRA_CA_CERTS ?? null,
        hooked: tls.createSecureContext !== original, shared: plain === tls.createSecureContext({ servername: 'x' }),
        ownLeftAlone: own !== plain, separate: withCiphers !== plain,
      }));`);
    assert.deepEqual(result, { authorized: true, env: ca, handedOver: null, hooked: true, shared: true, ownLeftAlone: true, separate: true });
  });

  it('changes nothing without BUILDER_EXTRA_CA_CERTS (node main.js run directly)', () => {
    const result = probe({}, `console.log(JSON.stringify({ hooked: tls.createSecureContext !== original, env: process.env.NODE_EXTRA_CA_CERTS ?? null }));`);
    assert.deepEqual(result, { hooked: false, env: null });
  });
});
