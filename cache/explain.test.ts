import { strict as assert } from 'node:assert';
import { explainMiss, type StepTrace } from './explain.js';

const trace = (over: Partial<StepTrace['preimage']> = {}, extra: Partial<StepTrace> = {}): StepTrace => ({
  key: 'sha256:k',
  preimage: { version: 'builder.step.v2', parent: 'sha256:p', step: { op: 'RUN', args: ['make'], buildArgs: [['A', '1']] }, inputsDigest: null, ...over },
  base: { key: 'sha256:b', ref: 'image busybox' },
  ...extra,
});

describe('cache miss explanations', () => {
  const cases: [string, StepTrace | undefined, StepTrace, string][] = [
    ['no record', undefined, trace(), 'no earlier build of this step'],
    ['build arg', trace(), trace({ step: { op: 'RUN', args: ['make'], buildArgs: [['A', '2']] } }), 'build arg A changed'],
    ['new build arg', trace(), trace({ step: { op: 'RUN', args: ['make'], buildArgs: [['A', '1'], ['B', 'x']] } }), 'build arg B changed'],
    ['instruction', trace(), trace({ step: { op: 'RUN', args: ['make all'], buildArgs: [['A', '1']] } }), 'the instruction changed'],
    ['base image', trace(), trace({ parent: 'sha256:q' }, { base: { key: 'sha256:c', ref: 'image busybox' } }), 'base image busybox changed (b → c)'],
    ['earlier step', trace(), trace({ parent: 'sha256:q' }), 'an earlier step changed'],
    ['files', trace({ inputsDigest: 'sha256:1' }, { files: { 'a.txt': '[0,0,"file",420,"x"]', 'gone.txt': '[0,0,"file",420,"y"]' } }),
      trace({ inputsDigest: 'sha256:2' }, { files: { 'a.txt': '[0,0,"file",493,"x"]', 'new.txt': '[0,0,"file",420,"z"]' } }),
      'a.txt mode changed, new.txt added, gone.txt removed'],
  ];
  for (const [what, previous, current, expected] of cases) {
    it(`explains a changed ${what}`, () => assert.equal(explainMiss(previous, current), expected));
  }
});
