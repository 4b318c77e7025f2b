import { strict as assert } from 'node:assert';
import type { ContainerConfig } from '../image/types.js';
import { planBuild } from './plan.js';
import type { BuildPlan, PlanOptions, RunStep, Step } from './types.js';

function resolver(configs: Record<string, ContainerConfig>, asked: [string, number][] = []): PlanOptions['resolveImageConfig'] {
  return async (ref, line) => {
    asked.push([ref, line]);
    return configs[ref] ?? {};
  };
}

/** The plan with its ARG steps (history entries only, see types.ts ArgStep) left out: these tests are about scope. */
async function plan(content: string, extra: Partial<PlanOptions> = {}): Promise<BuildPlan> {
  const result = await planBuild({ file: 'Dockerfile', content, buildArgs: {}, resolveImageConfig: resolver({}), ...extra });
  for (const stage of result.stages) stage.steps = stage.steps.filter((step) => step.op !== 'ARG');
  return result;
}

const vars = (step: Step | undefined): [string, string][] => (step && (step.op === 'ENV' || step.op === 'LABEL') ? step.vars : []);
const runArgs = (step: Step | undefined): [string, string][] => (step as RunStep).buildArgs;

describe('dockerfile/plan scope', () => {
  it('meta ARGs reach FROM lines (with --build-arg overrides) but not stages unless re-declared', async () => {
    const asked: [string, number][] = [];
    const result = await plan(
      'ARG BASE=busybox\nARG TAG=1\nFROM --platform=$BUILDPLATFORM ${BASE}:${TAG} AS one\nLABEL before=x$TAG\nARG TAG\nLABEL after=x$TAG\nFROM one\nLABEL other=x$TAG\n',
      { buildArgs: { TAG: '2', UNUSED: 'u' }, resolveImageConfig: resolver({}, asked) },
    );
    assert.deepEqual(asked, [['busybox:2', 3]]);
    assert.equal(result.stages[0]!.platform, `linux/${process.arch === 'arm64' ? 'arm64' : 'amd64'}`);
    assert.deepEqual(result.stages[0]!.steps.map(vars), [[['before', 'x']], [['after', 'x2']]]);
    // BuildKit: a stage built FROM another stage inherits its ARG values.
    assert.deepEqual(result.stages[1]!.steps.map(vars), [[['other', 'x2']]]);
    assert.deepEqual(result.unusedBuildArgs, ['UNUSED']);
  });

  it('an ARG is visible from its line to the end of its stage; ENV of the same name wins', async () => {
    const result = await plan(
      'FROM busybox\nRUN a\nARG V=def\nARG W\nRUN b\nENV V=env\nLABEL v=$V w=$W\nFROM busybox\nLABEL v=$V\n',
      { buildArgs: { W: 'given' } },
    );
    const [run1, run2, , label] = result.stages[0]!.steps;
    assert.deepEqual(runArgs(run1), []);
    assert.deepEqual(runArgs(run2), [['V', 'def'], ['W', 'given']]);
    assert.deepEqual(vars(label), [['v', 'env'], ['w', 'given']]);
    assert.deepEqual(vars(result.stages[1]!.steps[0]), [['v', '']]);
    assert.deepEqual(result.unusedBuildArgs, []);
  });

  it('ARG defaults may use earlier ARGs and ENV; an ARG without value is unset', async () => {
    const result = await plan('FROM busybox\nENV E=e\nARG A=a B=${A}-$E C\nLABEL x=$B y=${C-unset}\nRUN x\n');
    assert.deepEqual(vars(result.stages[0]!.steps[1]), [['x', 'a-e'], ['y', 'unset']]);
    assert.deepEqual(runArgs(result.stages[0]!.steps[2]), [['A', 'a'], ['B', 'a-e']]);
  });

  it('predefines platform args globally; in a stage they need ARG; proxy args need no declaration', async () => {
    const result = await plan('FROM busybox:$TARGETARCH\nRUN a\nARG TARGETARCH TARGETPLATFORM TARGETVARIANT\nRUN b\n', {
      platform: 'linux/arm64/v8', buildArgs: { HTTP_PROXY: 'http://127.0.0.1:3128' },
    });
    assert.deepEqual(result.stages[0]!.from, { image: 'busybox:arm64' });
    // BuildKit's proxyEnvList: both spellings.
    const proxy: [string, string][] = [['HTTP_PROXY', 'http://127.0.0.1:3128'], ['http_proxy', 'http://127.0.0.1:3128']];
    assert.deepEqual(runArgs(result.stages[0]!.steps[0]), proxy);
    assert.deepEqual(runArgs(result.stages[0]!.steps[1]), [
      proxy[0], ['TARGETARCH', 'arm64'], ['TARGETPLATFORM', 'linux/arm64/v8'], ['TARGETVARIANT', 'v8'], proxy[1],
    ]);
    assert.deepEqual(result.unusedBuildArgs, []);
  });

  it('starts from the base image Env, and a stage base from the env that stage ended with', async () => {
    const result = await plan('FROM base AS a\nENV B=$PATH:/b\nFROM a\nLABEL l=$B\nFROM scratch\nLABEL s=x$PATH\n', {
      resolveImageConfig: resolver({ base: { Env: ['PATH=/bin', 'EMPTY='] } }),
    });
    assert.deepEqual(result.stages.map((s) => s.from), [{ image: 'base' }, { stage: 0 }, { scratch: true }]);
    assert.deepEqual(vars(result.stages[1]!.steps[0]), [['l', '/bin:/b']]);
    assert.deepEqual(vars(result.stages[2]!.steps[0]), [['s', 'x/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']]);
  });

  it('resolves FROM and --from by stage name (case-insensitive) or index, --from also to later stages; other values are images', async () => {
    const result = await plan(
      'FROM busybox AS Build\nFROM build\nFROM 0\nCOPY --from=BUILD /a /a\nCOPY --from=1 /b /b\nCOPY --from=later /c /c\nRUN --mount=type=bind,from=build,target=/m x\nFROM busybox AS later\n',
    );
    assert.equal(result.stages[0]!.name, 'build');
    assert.deepEqual(result.stages.map((s) => s.from), [{ image: 'busybox' }, { stage: 0 }, { stage: 0 }, { image: 'busybox' }]);
    const steps = result.stages[2]!.steps;
    assert.deepEqual(steps.slice(0, 3).map((s) => s.op !== 'RUN' && 'from' in s && s.from), [{ stage: 0 }, { stage: 1 }, { stage: 3 }]);
    assert.deepEqual((steps[3] as RunStep).mounts[0], { type: 'bind', target: '/m', readonly: true, from: { stage: 0 } });
    assert.equal(result.target, 3);
  });

  it('selects --target case-insensitively', async () => {
    const result = await plan('FROM busybox AS build\nFROM busybox AS final\n', { target: 'BUILD' });
    assert.equal(result.target, 0);
  });

  it('injects the base image ONBUILD triggers first, at the FROM line, expanded in the child', async () => {
    const result = await plan('ARG IMG=parent\nFROM $IMG\nENV Y=2\n', {
      buildArgs: { X: 'given' },
      resolveImageConfig: resolver({ parent: { Env: ['P=1'], OnBuild: ['ARG X', 'LABEL from=$P x=$X', 'RUN echo $X'] } }),
    });
    const steps = result.stages[0]!.steps;
    assert.deepEqual(steps.map((s) => [s.op, s.line, s.source]), [['LABEL', 2, 'LABEL from=$P x=$X'], ['RUN', 2, 'RUN echo $X'], ['ENV', 3, 'ENV Y=2']]);
    assert.deepEqual(vars(steps[0]), [['from', '1'], ['x', 'given']]);
    assert.deepEqual(runArgs(steps[1]), [['X', 'given']]);
  });

  it('a stage built FROM another stage runs that stage\'s own ONBUILD triggers (not inherited ones)', async () => {
    const result = await plan('FROM parent AS a\nONBUILD LABEL mine=1\nFROM a\n', {
      resolveImageConfig: resolver({ parent: { OnBuild: ['LABEL inherited=1'] } }),
    });
    assert.deepEqual(result.stages[0]!.steps.map((s) => s.source), ['LABEL inherited=1', 'ONBUILD LABEL mine=1']);
    assert.deepEqual(result.stages[1]!.steps.map((s) => [s.source, s.line]), [['LABEL mine=1', 3]]);
  });

  it('the later of ENV and ARG wins, as in BuildKit; a FROM-stage child inherits ARGs but its ENV wins again', async () => {
    const result = await plan(
      'FROM busybox AS one\nENV E=env\nARG E=arg\nARG L=l\nLABEL a=$E\nRUN a\nENV E=env2\nARG E\nLABEL b=$E\nRUN b\nARG E=arg3\nFROM one\nLABEL c=$E-$L\nRUN c\n',
    );
    const [, labelA, runA, , labelB, runB] = result.stages[0]!.steps;
    assert.deepEqual(vars(labelA), [['a', 'arg']]);
    assert.deepEqual(runArgs(runA), [['E', 'arg'], ['L', 'l']]);
    // A bare ARG keeps its earlier value but does not take over from the ENV after it.
    assert.deepEqual(vars(labelB), [['b', 'env2']]);
    assert.deepEqual(runArgs(runB), [['L', 'l']]);
    const [labelC, runC] = result.stages[1]!.steps;
    assert.deepEqual(vars(labelC), [['c', 'env2-l']]);
    assert.deepEqual(runArgs(runC), [['L', 'l']]);
  });

  it('accepts any non-blank ARG name, as BuildKit does', async () => {
    const result = await plan('FROM busybox\nARG a-b=1 1st=2\nRUN x\n');
    assert.deepEqual(runArgs(result.stages[0]!.steps[0]), [['1st', '2'], ['a-b', '1']]);
    await assert.rejects(plan('FROM busybox\nARG =v\n'), /ARG names can not be blank/);
  });
});
