/**
 * Instruction-level facts of BuildKit's instructions/parse_test.go (argument counts, blank names, flags, ONBUILD
 * triggers) and of its dispatch (STOPSIGNAL through moby/sys/signal ParseSignal), each planned after `FROM busybox`.
 */
import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { planBuild } from './plan.js';

async function outcome(line: string): Promise<string> {
  try {
    await planBuild({ file: 'Dockerfile', content: `FROM busybox\n${line}\n`, buildArgs: {}, resolveImageConfig: async () => ({}) });
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof BuildError, `expected a BuildError, got ${String(err)}`);
    assert.equal(err.line, 2, `the error names line 2: ${err.message}`);
    return err.message;
  }
}

describe('dockerfile instructions: BuildKit parse facts', () => {
  const cases: [string, RegExp | 'ok'][] = [
    ...['MAINTAINER', 'WORKDIR', 'USER', 'STOPSIGNAL'].map((k): [string, RegExp] => [k, new RegExp(`^${k} requires exactly one argument$`)]),
    ...['ENV', 'LABEL', 'ONBUILD', 'HEALTHCHECK', 'EXPOSE', 'VOLUME'].map((k): [string, RegExp] => [k, new RegExp(`^${k} requires at least one argument$`)]),
    ['ADD arg1', /^ADD requires at least two arguments$/],
    ['COPY arg1', /^COPY requires at least two arguments$/],
    ['COPY\t', /^COPY requires at least two arguments$/],
    ['ENV =arg2', /^ENV names can not be blank$/],
    ['LABEL =arg2', /^LABEL names can not be blank$/],
    ['MAINTAINER --boo joe@example.com', /^unknown flag: --boo$/],
    ['MAINTAINER joe@example.com', 'ok'],
    ['ONBUILD FROM scratch', /FROM isn't allowed as an ONBUILD trigger/],
    ['ONBUILD ONBUILD RUN touch foobar', /Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed/],
    ['foo bar', /^unknown instruction: FOO/],
    ['STOPSIGNAL SIGFOO', /^Invalid signal: SIGFOO$/],
    ['STOPSIGNAL 0', /^Invalid signal: 0$/],
    ['STOPSIGNAL RTMAX-15', /^Invalid signal: RTMAX-15$/],
    ['STOPSIGNAL sigkill', 'ok'],
    ['STOPSIGNAL 99', 'ok'],
    ['STOPSIGNAL SIGRTMIN+15', 'ok'],
    ['STOPSIGNAL CLD', 'ok'],
    // RUN --security (stable since dockerfile 1.x, commands_runsecurity.go): sandbox is the default
    ['RUN --security=sandbox true', 'ok'],
    ['RUN --security=foo true', /^security "foo" is not valid$/],
    ['RUN --security=insecure true', /entitlement security\.insecure is not allowed/],
  ];
  for (const [line, expected] of cases) {
    it(`${JSON.stringify(line)} → ${expected === 'ok' ? 'plans' : expected.source}`, async () => {
      const got = await outcome(line);
      if (expected === 'ok') assert.equal(got, 'ok');
      else assert.match(got, expected);
    });
  }
});
