import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { configuredRuntime, runtimeCommand, runtimeName } from './runtime.js';

const invalid = (pattern: RegExp) => (err: unknown): boolean => err instanceof BuildError && err.code === 'INVALID_ARGUMENT' && pattern.test(err.message);

describe('OCI runtime choice', () => {
  it('takes runc (default) and crun, any case; refuses other names with what it accepts', () => {
    const cases: [string | undefined, string][] = [[undefined, 'runc'], ['', 'runc'], ['runc', 'runc'], ['crun', 'crun'], [' CRUN ', 'crun']];
    for (const [input, expected] of cases) assert.equal(runtimeName(input), expected, String(input));
    assert.throws(() => runtimeName('youki'), invalid(/--runtime: unknown OCI runtime "youki" \(builder runs RUN steps with runc or crun; runc is the default\)/));
  });

  it('BUILDER_RUNTIME wins over [build] runtime; a bad value names where it came from', () => {
    assert.equal(configuredRuntime({}, {}), 'runc');
    assert.equal(configuredRuntime({ build: { runtime: 'crun' } }, {}), 'crun');
    assert.equal(configuredRuntime({ build: { runtime: 'crun' } }, { BUILDER_RUNTIME: 'runc' }), 'runc');
    assert.throws(() => configuredRuntime({}, { BUILDER_RUNTIME: 'kata' }), invalid(/^BUILDER_RUNTIME: unknown OCI runtime "kata"/));
    assert.throws(() => configuredRuntime({ build: { runtime: 'gvisor' } }, {}), invalid(/^\[build\] runtime: unknown OCI runtime "gvisor"/));
    assert.throws(() => configuredRuntime({ build: { runtime: 3 } }, {}), invalid(/must be a string/));
  });

  it('runs a wrapped runtime as wrapper + binary + args', () => {
    const plain = { name: 'runc' as const, path: '/usr/sbin/runc', root: '/run/r' };
    assert.deepEqual(runtimeCommand(plain, ['run', 'x']), { command: '/usr/sbin/runc', argv: ['run', 'x'] });
    const wrapped = { ...plain, name: 'crun' as const, path: '/usr/bin/crun', wrapper: ['unshare', '--mount', '--', 'sh', '-c', 'exec "$0" "$@"'] };
    assert.deepEqual(runtimeCommand(wrapped, ['run', 'x']), { command: 'unshare', argv: ['--mount', '--', 'sh', '-c', 'exec "$0" "$@"', '/usr/bin/crun', 'run', 'x'] });
  });
});
