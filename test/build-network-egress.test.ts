/**
 * ADD's own downloads on the isolated build network (the farm's default) obey the RUN firewall's rule: the engine
 * fetches in the worker's network, so without the check an `ADD http://127.0.0.1:6379/` would reach the farm's
 * Redis. Only loopback servers are contacted here.
 */
import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createEngine } from '../builder/engine.js';
import { BuildError } from '../builder/errors.js';
import { downloadUrl } from '../builder/exec/add-remote.js';
import { deniedReason } from '../builder/network/egress-check.js';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const policy = { allowCidrs: ['10.1.0.0/16'], denyCidrs: ['10.0.0.0/8'] };

describe('build network egress for ADD', function () {
  this.timeout(120_000);
  let server: Server;
  let base = '';
  let secretReads = 0;

  before(async () => {
    server = createServer((request, response) => {
      if (request.url === '/start') {
        response.writeHead(302, { location: '/secret' }).end();
        return;
      }
      if (request.url === '/secret') secretReads++;
      response.end('payload\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => server.close());

  it('refuses loopback, link-local, this host, builder networks and deny CIDRs; allow CIDRs make exceptions', () => {
    const own = ['192.0.2.7'];
    const cases: [string, boolean][] = [
      ['127.0.0.1', true], ['127.8.9.10', true], ['::1', true], ['::ffff:127.0.0.1', true], ['fe80::1', true], ['fd00::5', true],
      ['169.254.169.254', true], ['10.213.0.4', true], ['192.0.2.7', true], ['10.9.9.9', true],
      ['10.1.2.3', false], ['93.184.216.34', false], ['2001:db8::1', false],
    ];
    for (const [address, refused] of cases) {
      assert.equal(deniedReason(address, policy, own) !== undefined, refused, address);
    }
  });

  it('checks every redirect hop, not only the first URL', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'egress-'));
    const before = secretReads;
    const refuseSecret = async (url: string): Promise<void> => {
      if (new URL(url).pathname === '/secret') throw new BuildError('INVALID_ARGUMENT', `refused ${url}`);
    };
    await assert.rejects(downloadUrl(`${base}/start`, dir, undefined, refuseSecret), /refused .*\/secret/);
    assert.equal(secretReads, before, 'the refused hop was never requested');
    const file = await downloadUrl(`${base}/start`, dir);
    assert.equal(await readFile(file.path, 'utf8'), 'payload\n');
  });

  it('a build on the isolated network cannot ADD from the host; the same build on the host network can', async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: needs root'); this.skip(); }
    const scratch = await makeTempDir('egress-scratch');
    const root = await makeFixtureRoot('egress-root', scratch);
    const engine = await createEngine({ root });
    try {
      const context = path.join(scratch, 'ctx');
      await mkdir(context);
      await writeFile(path.join(context, 'Dockerfile'), `FROM busybox\nADD ${base}/secret /got\n`);
      const request = { contextDir: context, dockerfilePath: path.join(context, 'Dockerfile'), dockerfileName: 'Dockerfile', tags: [] as string[], buildArgs: {}, noCache: true };
      const reads = secretReads;
      await assert.rejects(engine.build({ ...request, network: 'isolated', allowHostNetwork: false }),
        (err: BuildError) => /^ADD failed: .* is refused by the build network policy: it is (a loopback address|an address of this host)/.test(err.message) && err.line === 2);
      assert.equal(secretReads, reads, 'nothing reached the host listener');
      await engine.build({ ...request, network: 'host' });
      assert.equal(secretReads, reads + 1);
    } finally {
      await engine.close();
      await removeTempDir(root);
      await removeTempDir(scratch);
    }
  });
});
