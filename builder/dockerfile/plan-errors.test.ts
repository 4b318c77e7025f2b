import { strict as assert } from 'node:assert';
import { BuildError, BuildErrors, type ErrorCode } from '../errors.js';
import { planBuild } from './plan.js';
import type { PlanOptions } from './types.js';

async function planError(content: string, extra: Partial<PlanOptions> = {}): Promise<BuildError> {
  try {
    await planBuild({ file: 'app/Dockerfile', content, buildArgs: {}, resolveImageConfig: async () => ({}), ...extra });
  } catch (err) {
    assert.ok(err instanceof BuildError, `expected a BuildError, got ${String(err)}`);
    return err;
  }
  throw new Error('planBuild did not fail');
}

describe('dockerfile/plan errors', () => {
  const cases: [string, ErrorCode, number | undefined, RegExp][] = [
    ['', 'NO_FROM', 1, /^failed to parse app\/Dockerfile: file with no instructions$/],
    ['# only a comment\n', 'NO_FROM', 1, /file with no instructions/],
    ['ARG A=1\n', 'NO_FROM', undefined, /no stages to build/],
    ['FROM busybox\nRUNN make\n', 'UNKNOWN_INSTRUCTION', 2, /^unknown instruction: RUNN \(did you mean RUN\?\)$/],
    ['FROM busybox\nENTRYPIONT x\n', 'UNKNOWN_INSTRUCTION', 2, /did you mean ENTRYPOINT\?/],
    ['FROM busybox\nFOOBAR x\n', 'UNKNOWN_INSTRUCTION', 2, /^unknown instruction: FOOBAR$/],
    ['RUN make\nFROM busybox\n', 'NO_FROM', 1, /^no build stage in current context$/],
    ['FROM busybox\nCOPY onlyone\n', 'DOCKERFILE_PARSE', 2, /^COPY requires at least two arguments$/],
    ['FROM busybox\nENV onlykey\n', 'DOCKERFILE_PARSE', 2, /^ENV must have two arguments$/],
    ['FROM busybox\nENV a=1 b\n', 'DOCKERFILE_PARSE', 2, /can't find = in "b"/],
    ['FROM busybox\nCOPY --foo a b\n', 'DOCKERFILE_PARSE', 2, /^unknown flag: --foo \(did you mean from\?\)$/],
    ['FROM busybox\nADD --from=x a b\n', 'DOCKERFILE_PARSE', 2, /^unknown flag: --from$/],
    ['FROM busybox\nCOPY --from a b\n', 'DOCKERFILE_PARSE', 2, /missing a value on flag: --from/],
    ['FROM busybox\nCOPY --chmod=999 a b\n', 'DOCKERFILE_INVALID', 2, /invalid chmod parameter: '999'. it should be octal string and between 0 and 07777/],
    ['FROM busybox\nSHELL /bin/bash -c\n', 'DOCKERFILE_PARSE', 2, /SHELL requires the arguments to be in JSON form/],
    ['FROM busybox\nHEALTHCHECK --interval=5x CMD true\n', 'DOCKERFILE_INVALID', 2, /^time: unknown unit "x" in duration "5x"$/],
    ['FROM busybox\nHEALTHCHECK --interval=1 CMD true\n', 'DOCKERFILE_INVALID', 2, /^time: missing unit in duration "1"$/],
    ['FROM busybox\nHEALTHCHECK --interval=abc CMD true\n', 'DOCKERFILE_INVALID', 2, /^time: invalid duration "abc"$/],
    ['FROM busybox\nHEALTHCHECK --interval=-1s CMD true\n', 'DOCKERFILE_INVALID', 2, /^Interval "interval" cannot be less than 1ms$/],
    ['FROM busybox\nHEALTHCHECK --retries=x CMD true\n', 'DOCKERFILE_INVALID', 2, /^strconv.ParseInt: parsing "x": invalid syntax$/],
    ['FROM busybox\nHEALTHCHECK --timeout=10us CMD true\n', 'DOCKERFILE_INVALID', 2, /^Interval "timeout" cannot be less than 1ms$/],
    ['FROM busybox\nHEALTHCHECK --retries=-1 CMD true\n', 'DOCKERFILE_INVALID', 2, /cannot be negative/],
    ['FROM busybox\nHEALTHCHECK NONE true\n', 'DOCKERFILE_PARSE', 2, /takes no arguments/],
    ['FROM busybox\nHEALTHCHECK BOGUS x\n', 'DOCKERFILE_PARSE', 2, /try CMD/],
    ['FROM busybox AS 1st\n', 'DOCKERFILE_INVALID', 1, /invalid name for build stage/],
    ['FROM busybox AS scratch\n', 'DOCKERFILE_INVALID', 1, /reserved stage name/],
    ['FROM busybox AS\n', 'DOCKERFILE_PARSE', 1, /FROM requires either one or three arguments/],
    ['FROM $NOPE\n', 'DOCKERFILE_INVALID', 1, /base name \(\$NOPE\) should not be blank/],
    ['FROM busybox\nONBUILD ONBUILD RUN x\n', 'DOCKERFILE_INVALID', 2, /Chaining ONBUILD/],
    ['FROM busybox\nONBUILD FROM x\n', 'DOCKERFILE_INVALID', 2, /FROM isn't allowed as an ONBUILD trigger/],
    ['FROM busybox\nONBUILD MAINTAINER x\n', 'DOCKERFILE_INVALID', 2, /MAINTAINER isn't allowed/],
    ['FROM busybox\nCOPY --from=0 a b\n', 'DOCKERFILE_INVALID', 1, /^circular dependency detected on stage: stage-0$/],
    ['FROM busybox AS a\nCOPY --from=b x y\nFROM busybox AS b\nCOPY --from=a x y\n', 'DOCKERFILE_INVALID', 1, /circular dependency detected on stage: a/],
    ['FROM busybox\nCOPY https://example.com/a.txt /a\n', 'DOCKERFILE_INVALID', 2, /^source can't be a URL for COPY$/],
    ['FROM busybox\nCOPY https://github.com/moby/buildkit.git /src\n', 'DOCKERFILE_INVALID', 2, /^source can't be a git ref for COPY$/],
    ['FROM busybox\nCMD [["echo", "nested"]]\n', 'DOCKERFILE_PARSE', 2, /arrays must be comprised of strings only/],
    ['FROM busybox\nRUN ["echo", 1]\n', 'DOCKERFILE_PARSE', 2, /arrays must be comprised of strings only/],
    ['FROM busybox\nCOPY --from=1 a b\n', 'UNKNOWN_STAGE', 2, /^invalid stage index 1$/],
    ['FROM busybox\nARG S=x\nCOPY --from=$S a b\n', 'DOCKERFILE_INVALID', 3, /variable expansion is not supported for --from/],
    ['FROM busybox\nRUN --mount=type=sshh x\n', 'DOCKERFILE_INVALID', 2, /unsupported mount type "sshh" \(did you mean ssh\?\)/],
    ['FROM busybox\nRUN --mount=type=bind,target=/x,required x\n', 'DOCKERFILE_INVALID', 2, /^unexpected key 'required' for mount type 'bind'$/],
    ['FROM busybox\nRUN --mount=type=tmpfs,target=/x,mode=0700 x\n', 'DOCKERFILE_INVALID', 2, /^mode not allowed for "tmpfs" type mounts$/],
    ['FROM busybox\nRUN --mount=type=cache,target=/x,size=1m x\n', 'DOCKERFILE_INVALID', 2, /^unexpected key 'size' for mount type 'cache'$/],
    ['FROM busybox\nRUN --mount=type=secret,id=a,sharing=locked x\n', 'DOCKERFILE_INVALID', 2, /^secret mount should not define sharing$/],
    ['FROM busybox\nRUN --mount=type=ssh,mode=9 x\n', 'DOCKERFILE_INVALID', 2, /^invalid value 9 for mode$/],
    ['FROM busybox\nRUN --mount=type=cache x\n', 'DOCKERFILE_INVALID', 2, /requires a target/],
    ['FROM busybox\nRUN --mount=type=bind,target=/x,bogus=1 x\n', 'DOCKERFILE_INVALID', 2, /unexpected key 'bogus'/],
    ['FROM busybox\nRUN --network=bridge x\n', 'DOCKERFILE_INVALID', 2, /unsupported network mode/],
    ['FROM busybox\nEXPOSE 80/foo\n', 'DOCKERFILE_INVALID', 2, /invalid containerPort: 80\/foo/],
    ['FROM busybox\nEXPOSE 90-80\n', 'DOCKERFILE_INVALID', 2, /invalid range specified for containerPort: 90-80/],
    ['FROM busybox\nWORKDIR\n', 'DOCKERFILE_PARSE', 2, /WORKDIR requires exactly one argument/],
    ['FROM busybox\nVOLUME [""]\n', 'DOCKERFILE_INVALID', 2, /can not be an empty string/],
    ['FROM busybox\nLABEL x="open\n', 'DOCKERFILE_PARSE', 2, /double-quote/],
    ['FROM busybox\nRUN <<EOF\nnever closed\n', 'DOCKERFILE_PARSE', 2, /unterminated heredoc/],
  ];
  for (const [content, code, line, message] of cases) {
    it(`${code} ${JSON.stringify(content.split('\n').slice(-2)[0])}`, async () => {
      const err = await planError(content);
      assert.equal(err.code, code, err.message);
      assert.equal(err.line, line);
      assert.equal(err.file, 'app/Dockerfile');
      assert.match(err.message, message);
    });
  }

  it('reports an unknown --target', async () => {
    const err = await planError('FROM busybox AS a\n', { target: 'nope' });
    assert.equal(err.code, 'UNKNOWN_STAGE');
    assert.equal(err.message, 'target stage "nope" could not be found');
  });

  it('reports a bad inherited ONBUILD trigger at the FROM line', async () => {
    const err = await planError('FROM busybox\nFROM parent\n', { resolveImageConfig: async (ref) => (ref === 'parent' ? { OnBuild: ['RUNN x'] } : {}) });
    assert.equal(err.code, 'UNKNOWN_INSTRUCTION');
    assert.equal(err.line, 2);
    assert.match(err.message, /ONBUILD trigger "RUNN x" inherited from parent: unknown instruction: RUNN/);
  });

  it('collects every problem in the Dockerfile and throws them together', async () => {
    const err = await planError('RUN early\nFROM busybox AS 9bad\nRUNN x\nCOPY a\nENV ok=1\nHEALTHCHECK --interval=x CMD true\n');
    assert.ok(err instanceof BuildErrors);
    assert.deepEqual(err.errors.map((e) => [e.code, e.line]), [
      ['NO_FROM', 1], ['DOCKERFILE_INVALID', 2], ['UNKNOWN_INSTRUCTION', 3], ['DOCKERFILE_PARSE', 4], ['DOCKERFILE_INVALID', 6],
    ]);
    assert.match(err.toString(), /^app\/Dockerfile:1: no build stage in current context\napp\/Dockerfile:2: invalid name/);
  });

  it('passes resolver failures through with their location', async () => {
    const err = await planError('FROM missing:1\n', {
      resolveImageConfig: async (ref, line) => {
        throw new BuildError('IMAGE_NOT_FOUND', `image "${ref}" not found`, { file: 'app/Dockerfile', line });
      },
    });
    assert.equal(err.code, 'IMAGE_NOT_FOUND');
    assert.equal(err.line, 1);
  });
});
