/** `builder network …` and `builder volume …` through the real CLI: docker's output shapes and errors. */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { openNetworking } from '../builder/network/index.js';
import { netavarkBinaries } from '../builder/network/netavark.js';
import { openVolumes } from '../builder/volume/index.js';
import { expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('network and volume commands (CLI)', function () {
  this.timeout(60_000);
  let root = '';
  before(async () => { root = await makeTempDir('net-vol-cli'); });
  after(() => removeTempDir(root));
  const cli = (...args: string[]): Promise<CliResult> => runCli(args, { root });

  it('network create/ls/inspect/rm/prune print what docker prints', async () => {
    const id = expectSuccess(await cli('network', 'create', '--subnet', '10.77.5.0/24', '--label', 'team=web', '--internal', 'webnet'), 'create').stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ls = expectSuccess(await cli('network', 'ls'), 'ls').stdout.split('\n');
    assert.match(ls[0]!, /^NETWORK ID\s{5}NAME\s+DRIVER\s+SCOPE$/);
    assert.ok(ls.some((line) => new RegExp(`^${id.slice(0, 12)}\\s+webnet\\s+bridge\\s+local$`).test(line)), ls.join('\n'));
    assert.ok(ls.some((line) => /\sbridge\s+bridge\s+local$/.test(line)), 'the default bridge network is listed');
    const [inspected] = JSON.parse(expectSuccess(await cli('network', 'inspect', 'webnet'), 'inspect').stdout) as Record<string, unknown>[];
    assert.equal(inspected!.Name, 'webnet');
    assert.equal(inspected!.Id, id);
    assert.equal(inspected!.Internal, true);
    assert.deepEqual(inspected!.Labels, { team: 'web' });
    assert.deepEqual((inspected!.IPAM as { Config: unknown[] }).Config, [{ Subnet: '10.77.5.0/24', Gateway: '10.77.5.1' }]);
    const clash = await cli('network', 'create', 'webnet');
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /network with name webnet already exists/);
    const overlap = await cli('network', 'create', '--subnet', '10.77.5.128/25', 'other');
    assert.match(overlap.stderr, /Pool overlaps with other one on this address space/);
    const missing = await cli('network', 'inspect', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /network nope not found/);
    assert.match((await cli('network', 'rm', 'bridge')).stderr, /bridge is a pre-defined network and cannot be removed/);
    expectSuccess(await cli('network', 'create', 'spare'), 'create spare');
    assert.equal(expectSuccess(await cli('network', 'rm', 'spare'), 'rm').stdout, 'spare\n');
    assert.equal(expectSuccess(await cli('network', 'prune', '-f'), 'prune').stdout, 'Deleted Networks:\nwebnet\n');
  });

  it('network rm of a network in use, connect and disconnect of a running container', async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: needs root'); this.skip(); }
    try { await netavarkBinaries(); } catch (err) { console.log(`    skipped: ${(err as Error).message}`); this.skip(); }
    expectSuccess(await cli('network', 'create', '--internal', 'busy'), 'create');
    expectSuccess(await cli('network', 'create', '--internal', 'extra'), 'create');
    const containerId = randomBytes(32).toString('hex');
    const net = openNetworking(root);
    await net.attach({ containerId, name: 'app', hostname: 'app', endpoints: [{ network: 'busy', aliases: [] }], ports: [] });
    try {
      const refused = await cli('network', 'rm', 'busy');
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /network busy id [0-9a-f]{64} has active endpoints/);
      expectSuccess(await cli('network', 'connect', '--alias', 'api', 'extra', 'app'), 'connect');
      const [extra] = JSON.parse(expectSuccess(await cli('network', 'inspect', 'extra'), 'inspect').stdout) as { Containers: Record<string, { Name: string; IPv4Address: string }> }[];
      assert.equal(extra!.Containers[containerId]!.Name, 'app');
      assert.match(extra!.Containers[containerId]!.IPv4Address, /^10\.213\.\d+\.\d+\/24$/);
      const again = await cli('network', 'connect', 'extra', 'app');
      assert.match(again.stderr, /endpoint with name app already exists in network extra/);
      expectSuccess(await cli('network', 'disconnect', 'extra', containerId.slice(0, 12)), 'disconnect');
      assert.deepEqual((JSON.parse((await cli('network', 'inspect', 'extra')).stdout) as { Containers: object }[])[0]!.Containers, {});
      assert.match((await cli('network', 'connect', 'extra', 'ghost')).stderr, /No such container: ghost/);
    } finally {
      await net.detach(containerId);
    }
    expectSuccess(await cli('network', 'rm', 'busy', 'extra'), 'rm after detach');
  });

  it('volume create/ls/inspect/rm/prune print what docker prints; a volume in use is refused', async () => {
    assert.equal(expectSuccess(await cli('volume', 'create', '--label', 'k=v', 'data'), 'create').stdout, 'data\n');
    const ls = expectSuccess(await cli('volume', 'ls'), 'ls').stdout;
    assert.equal(ls, 'DRIVER    VOLUME NAME\nlocal     data\n');
    const [inspected] = JSON.parse(expectSuccess(await cli('volume', 'inspect', 'data'), 'inspect').stdout) as Record<string, unknown>[];
    assert.equal(inspected!.Mountpoint, path.join(root, 'volumes', 'data', '_data'));
    assert.deepEqual(inspected!.Labels, { k: 'v' });
    assert.equal(inspected!.Scope, 'local');
    assert.match(String(inspected!.CreatedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const containerId = randomBytes(32).toString('hex');
    await mkdir(path.join(root, 'containers', containerId), { recursive: true });
    await openVolumes(root).prepare(containerId, [{ type: 'volume', source: 'data', target: '/data', readonly: false }], path.join(root, 'no-rootfs'));
    const refused = await cli('volume', 'rm', 'data');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`remove data: volume is in use - \\[${containerId}\\]`));
    assert.match((await cli('volume', 'ls', '--filter', 'dangling=true')).stdout, /^DRIVER\s+VOLUME NAME\n$/);
    await openVolumes(root).release(containerId, { removeAnonymous: true });
    assert.equal(expectSuccess(await cli('volume', 'prune', '-f'), 'prune').stdout, 'Total reclaimed space: 0B\n');
    assert.match(expectSuccess(await cli('volume', 'prune', '-f', '--all'), 'prune --all').stdout, /^Deleted Volumes:\ndata\n\nTotal reclaimed space: /);
    assert.match((await cli('volume', 'inspect', 'data')).stderr, /get data: no such volume/);
    assert.match((await cli('volume', 'create', '-d', 'nfs', 'x')).stderr, /plugin "nfs" not found/);
  });
});
