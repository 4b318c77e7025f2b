/** Table-driven tests of the container service's pure parts: docker's merge, status strings, filters, signals. */
import { strict as assert } from 'node:assert';
import { mergeConfig } from './create.js';
import { matchesFilters, parseFilterFlags, checkFilters, portFilter } from './filters.js';
import { humanDuration, statusText } from './inspect.js';
import { normalizeSignal, restartDelayMs, shouldRestart } from './lifecycle.js';
import { checkTransition } from './state.js';
import { initialState, type ContainerRecord, type ContainerStateRecord } from './record.js';
import { BuildError } from '../errors.js';

const record = (overrides: Partial<ContainerRecord> = {}): ContainerRecord => ({
  id: 'a'.repeat(64), name: 'web', created: '2026-01-01T00:00:00Z', image: 'web', imageDigest: 'sha256:m', imageId: 'sha256:abc123',
  config: { Labels: { tier: 'front' } }, hostConfig: { RestartPolicy: { Name: 'no' } }, path: 'httpd', args: [], rootfsDir: '/x', lowerdirs: [],
  ...overrides,
});
const state = (overrides: Partial<ContainerStateRecord> = {}): ContainerStateRecord => ({ ...initialState(), ...overrides });

describe('containers: pure parts', () => {
  it('merges image config and create body as docker', () => {
    const image = { Entrypoint: ['/entry'], Cmd: ['serve'], Env: ['A=1', 'B=2'], WorkingDir: '/app', User: 'app', Labels: { a: '1' }, StopSignal: 'SIGQUIT' };
    const id = 'f'.repeat(64);
    const keep = mergeConfig(image, { Image: 'x' }, id);
    assert.deepEqual([keep.Entrypoint, keep.Cmd, keep.WorkingDir, keep.User, keep.StopSignal, keep.Hostname], [['/entry'], ['serve'], '/app', 'app', 'SIGQUIT', id.slice(0, 12)]);
    const cmd = mergeConfig(image, { Image: 'x', Cmd: ['other'], Env: ['B=3', 'C=4'], Labels: { b: '2' } }, id);
    assert.deepEqual([cmd.Entrypoint, cmd.Cmd, cmd.Env, cmd.Labels], [['/entry'], ['other'], ['B=3', 'C=4', 'A=1'], { a: '1', b: '2' }]);
    const entry = mergeConfig(image, { Image: 'x', Entrypoint: ['sh'] }, id);
    assert.deepEqual([entry.Entrypoint, entry.Cmd], [['sh'], []], '--entrypoint clears the image Cmd');
    const cleared = mergeConfig(image, { Image: 'x', Entrypoint: [''], Cmd: ['ls'] }, id);
    assert.deepEqual([cleared.Entrypoint, cleared.Cmd], [[], ['ls']]);
    assert.equal(mergeConfig({}, { Image: 'x' }, id).StopSignal, 'SIGTERM');
  });

  it('writes docker\'s STATUS strings and durations', () => {
    const now = Date.parse('2026-01-01T01:00:00Z');
    const ago = (ms: number) => new Date(now - ms).toISOString();
    for (const [ms, text] of [[500, 'Less than a second'], [1000, '1 second'], [42_000, '42 seconds'], [60_000, 'About a minute'],
      [180_000, '3 minutes'], [3_600_000, 'About an hour'], [5 * 3_600_000, '5 hours'], [3 * 86_400_000, '3 days'], [21 * 86_400_000, '3 weeks']] as [number, string][]) {
      assert.equal(humanDuration(ms), text, String(ms));
    }
    assert.equal(statusText(state({ status: 'running', startedAt: ago(180_000) }), now), 'Up 3 minutes');
    assert.equal(statusText(state({ status: 'running', startedAt: ago(180_000), health: { Status: 'healthy', FailingStreak: 0, Log: [] } }), now), 'Up 3 minutes (healthy)');
    assert.equal(statusText(state({ status: 'running', startedAt: ago(1000), health: { Status: 'starting', FailingStreak: 0, Log: [] } }), now), 'Up 1 second (health: starting)');
    assert.equal(statusText(state({ status: 'paused', startedAt: ago(42_000) }), now), 'Up 42 seconds (Paused)');
    assert.equal(statusText(state({ status: 'exited', exitCode: 137, finishedAt: ago(2000) }), now), 'Exited (137) 2 seconds ago');
    assert.equal(statusText(state({ status: 'restarting', exitCode: 1, finishedAt: ago(1000) }), now), 'Restarting (1) 1 second ago');
    assert.equal(statusText(state(), now), 'Created');
  });

  it('filters as docker: keys AND-ed, values OR-ed; bad filters are errors', () => {
    const r = record();
    const running = state({ status: 'running' });
    assert.deepEqual(parseFilterFlags(['status=running', 'status=paused', 'label=tier']), { status: ['running', 'paused'], label: ['tier'] });
    assert.ok(matchesFilters(r, running, { status: ['exited', 'running'], name: ['we'] }));
    assert.ok(!matchesFilters(r, running, { status: ['running'], label: ['tier=back'] }));
    assert.ok(matchesFilters(r, running, { label: ['tier=front'], ancestor: ['web:latest'] }));
    assert.ok(matchesFilters(r, running, { ancestor: ['abc1'] }));
    assert.ok(matchesFilters(r, state({ status: 'exited', exitCode: 3 }), { exited: ['3'] }));
    assert.throws(() => checkFilters({ colour: ['red'] }), /invalid filter 'colour'/);
    assert.throws(() => checkFilters({ status: ['sleeping'] }), /Invalid filter 'status=sleeping'/);
    assert.throws(() => parseFilterFlags(['status']), /bad format of filter/);
    assert.ok(matchesFilters(r, running, { name: ['^we'] }), 'name is a regular expression');
    assert.ok(matchesFilters(r, running, { name: ['^/web$'] }), 'matched with its slash too');
    assert.ok(!matchesFilters(r, running, { name: ['^eb'] }));
    assert.ok(!matchesFilters(r, running, { name: ['['] }), 'an invalid pattern matches nothing');
    assert.ok(matchesFilters(record({ hostConfig: { NetworkMode: 'none' } }), state({ status: 'exited' }), { network: ['none'] }));
    assert.ok(matchesFilters(r, state({ status: 'exited' }), { network: ['bridge'] }), 'default is bridge');
    assert.ok(matchesFilters(r, running, { isolation: ['default'], 'is-task': ['false'] }));
    assert.ok(!matchesFilters(r, running, { 'is-task': ['true'] }));
    const exposed = record({ config: { ExposedPorts: { '80/tcp': {}, '53/udp': {} } } });
    assert.ok(!matchesFilters(record({ ...exposed, hostConfig: { NetworkMode: 'none' } }), running, { expose: ['80'] }), 'no network, no ports');
    assert.ok(matchesFilters(exposed, running, { expose: ['80'] }));
    assert.ok(matchesFilters(exposed, running, { expose: ['50-60/udp'] }));
    assert.ok(!matchesFilters(exposed, running, { expose: ['53'] }), 'the default protocol is tcp');
    assert.ok(!matchesFilters(exposed, running, { publish: ['80'] }), 'exposed is not published');
    assert.deepEqual([...portFilter('publish', '8000-8002/udp')], ['8000/udp', '8001/udp', '8002/udp']);
    assert.throws(() => checkFilters({ publish: ['abc'] }), /error while looking up for publish abc: strconv.ParseUint: parsing "abc": invalid syntax/);
    assert.throws(() => checkFilters({ publish: ['1:80'] }), /should not contain ':'/);
    assert.throws(() => checkFilters({ exited: ['x'] }), /strconv.Atoi: parsing "x": invalid syntax/);
    assert.throws(() => checkFilters({ health: ['foo'] }), /Unrecognised filter value for health: foo/);
    assert.ok(matchesFilters(r, state({ status: 'exited', exitCode: 3 }), { exited: ['03'] }), 'exit codes compare as numbers');
  });

  it('checks transitions in one place with docker\'s messages', () => {
    assert.doesNotThrow(() => checkTransition('pause', 'running', 'web'));
    assert.throws(() => checkTransition('remove', 'running', 'web'), (err: BuildError) => err.code === 'CONFLICT' && /container is running: stop the container before removing or force remove/.test(err.message));
    assert.doesNotThrow(() => checkTransition('remove', 'running', 'web', true));
    assert.throws(() => checkTransition('unpause', 'running', 'web'), /is not paused/);
    assert.throws(() => checkTransition('exec', 'exited', 'web'), /is not running/);
    assert.throws(() => checkTransition('kill', 'created', 'web'), /is not running/);
  });

  it('normalizes signals and applies restart policies', () => {
    assert.deepEqual(['SIGTERM', 'term', '15', 'KILL', 'sigusr1'].map(normalizeSignal), ['TERM', 'TERM', 'TERM', 'KILL', 'USR1']);
    assert.throws(() => normalizeSignal('SIGNOPE'), /Invalid signal/);
    assert.throws(() => normalizeSignal('0'), /Invalid signal/);
    const policy = (Name: 'always' | 'on-failure' | 'no' | 'unless-stopped', MaximumRetryCount = 0) => record({ hostConfig: { RestartPolicy: { Name, MaximumRetryCount } } });
    assert.ok(shouldRestart(policy('always'), state({ exitCode: 0 })));
    assert.ok(!shouldRestart(policy('always'), state({ stoppedByUser: true })));
    assert.ok(!shouldRestart(policy('on-failure'), state({ exitCode: 0 })));
    assert.ok(shouldRestart(policy('on-failure', 2), state({ exitCode: 1, restartCount: 1 })));
    assert.ok(!shouldRestart(policy('on-failure', 2), state({ exitCode: 1, restartCount: 2 })));
    assert.ok(!shouldRestart(policy('no'), state({ exitCode: 1 })));
    assert.deepEqual([0, 1, 2, 10].map(restartDelayMs), [100, 200, 400, 5000]);
  });
});
