/** The docker CLI's container output shapes and flag translation, table-driven. */
import { strict as assert } from 'node:assert';
import type { ContainerSummary } from '../containers/docker-types.js';
import { renderTemplate } from './container-inspect.js';
import { createBody } from './container-flags.js';
import type { CreateFlags } from './container-flag-defs.js';
import { formatRows, psTable } from './container-output.js';

const summary: ContainerSummary = {
  Id: 'ab'.repeat(32), Names: ['/web'], Image: 'web', ImageID: 'sha256:1', Command: 'httpd -f -v -p 80 -h /www', Created: Math.floor(Date.now() / 1000) - 180,
  Ports: [{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }], Labels: { tier: 'front' }, State: 'running', Status: 'Up 3 minutes',
  HostConfig: { NetworkMode: 'default' }, NetworkSettings: { Networks: { bridge: {} } }, Mounts: [],
};
const flags = (overrides: Partial<CreateFlags> = {}): CreateFlags => ({
  publish: [], networkAlias: [], volume: [], mount: [], addHost: [], env: [], envFile: [], label: [], capAdd: [], capDrop: [], securityOpt: [], dns: [],
  ...overrides,
});

describe('cli: container output and flags', () => {
  it('prints docker ps columns, quoting and truncating COMMAND', () => {
    // Created is relative to now: set it here, not when the module loaded.
    const lines = psTable([{ ...summary, Created: Math.floor(Date.now() / 1000) - 200 }], false).split('\n');
    assert.match(lines[0]!, /^CONTAINER ID   IMAGE   COMMAND                  CREATED         STATUS         PORTS                    NAMES$/);
    assert.equal(lines[1], `${'ab'.repeat(6)}   web     "httpd -f -v -p 80 -…"   3 minutes ago   Up 3 minutes   127.0.0.1:8080->80/tcp   web`);
  });

  it('renders --format templates: fields, Label, table, json', () => {
    assert.equal(formatRows([summary], '{{.Names}}\\t{{.Label "tier"}}', false), 'web\tfront\n');
    assert.equal(formatRows([summary], 'table {{.Names}}\\t{{.State}}', false), 'NAMES   STATE\nweb     running\n');
    assert.equal(JSON.parse(formatRows([summary], 'json', false)).Ports, '127.0.0.1:8080->80/tcp');
    assert.throws(() => formatRows([summary], '{{.Nope}}', false), /can't evaluate field Nope/);
    assert.equal(renderTemplate('{{.State.Status}} {{json .Config.Env}} {{index .Labels "k"}}', { State: { Status: 'exited' }, Config: { Env: ['A=1'] }, Labels: { k: 'v' } }), 'exited ["A=1"] v');
  });

  it('translates docker run flags into the create body the docker CLI sends', () => {
    const body = createBody('web', ['sh'], flags({
      publish: ['127.0.0.1:8080:80', '53/udp'], volume: ['/srv:/srv:ro', 'data:/data', '/anon'], env: ['A=1', 'HOME_FROM_HOST'],
      label: ['tier=front', 'flag'], restart: 'on-failure:3', healthCmd: 'true', healthInterval: '1m30s', stopTimeout: '5', rm: false,
      memory: '64m', cpus: '1.5', network: 'net1', networkAlias: ['www'], capAdd: ['NET_ADMIN'],
    }), { HOME_FROM_HOST: '/h' });
    assert.deepEqual(body.HostConfig?.PortBindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': [{ HostIp: '', HostPort: '' }] });
    assert.deepEqual(body.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
    assert.deepEqual(body.HostConfig?.Binds, ['/srv:/srv:ro', 'data:/data']);
    assert.deepEqual(body.Volumes, { '/anon': {} });
    assert.deepEqual(body.Env, ['A=1', 'HOME_FROM_HOST=/h']);
    assert.deepEqual(body.Labels, { tier: 'front', flag: '' });
    assert.deepEqual(body.HostConfig?.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.deepEqual(body.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 90e9 });
    assert.equal(body.StopTimeout, 5);
    assert.equal(body.HostConfig?.Memory, 64 * 1024 * 1024);
    assert.equal(body.HostConfig?.NanoCpus, 1.5e9);
    assert.deepEqual(body.NetworkingConfig, { EndpointsConfig: { net1: { Aliases: ['www'] } } });
    assert.deepEqual(createBody('web', [], flags({ healthcheck: false })).Healthcheck, { Test: ['NONE'] });
    assert.throws(() => createBody('web', [], flags({ restart: 'sometimes' })), /invalid restart policy 'sometimes'/);
    assert.throws(() => createBody('web', [], flags({ healthInterval: '10' })), /invalid duration "10"/);
    assert.throws(() => createBody('web', [], flags({ envFile: ['/no/such/env'] })), /open \/no\/such\/env: no such file or directory/);
  });
});
