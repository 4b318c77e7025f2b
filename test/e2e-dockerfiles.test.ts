/**
 * Every test-dockerfiles/<case>/ built with the real `builder` CLI (real runc, overlayfs, store),
 * checked through `builder inspect` and `builder run --rm`, or for negative cases through the
 * error text and exit code. BUILDER_CASE=<name> runs one case.
 */
import { strict as assert } from 'node:assert';
import path from 'node:path';
import PQueue from 'p-queue';
import { errorCodes, type ErrorCode } from '../builder/errors.js';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { checkCase, discoverCases, type Engine, type ExpectedHistory } from './helpers/cases.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { validateLayout } from './helpers/oci-validate.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

function builderEngine(root: string): Engine {
  return {
    build: (testCase, tag, context) =>
      runCli(['build', '--progress=plain', '-t', tag, '-f', testCase.dockerfile, ...(testCase.expect.args ?? []), context], { root }),
    async config(tag) {
      const inspect = expectSuccess(await runCli(['inspect', tag], { root }), `builder inspect ${tag}`);
      const [image] = JSON.parse(inspect.stdout) as { Config?: Record<string, unknown> }[];
      return image?.Config ?? {};
    },
    run: (tag, cmd) => runCli(['run', '--rm', tag, ...cmd], { root }),
    async history(tag) {
      const inspect = expectSuccess(await runCli(['inspect', tag], { root }), `builder inspect ${tag}`);
      const [image] = JSON.parse(inspect.stdout) as { History?: ExpectedHistory[] }[];
      return image?.History ?? [];
    },
  };
}

describe('test-dockerfiles end to end (builder CLI)', function () {
  this.timeout(180_000);
  let root = '';
  let scratch = '';
  let emptyContext = '';
  const only = process.env.BUILDER_CASE?.split(',').filter(Boolean);
  const cases = discoverCases().filter((testCase) => !only || only.includes(testCase.name));

  // The cases run two at a time (two cores; BUILDER_E2E_CONCURRENCY=1 runs them one by one), each as its own
  // `builder` processes on the one store, as concurrent builds on a laptop do; each `it` reports its own case.
  const runs = new Map<string, Promise<void>>();
  before(async function () {
    root = await makeTempDir('e2e-root');
    scratch = await makeTempDir('e2e-scratch');
    emptyContext = await makeTempDir('e2e-empty-context');
    await loadBusyboxFixture(root, scratch);
    const queue = new PQueue({ concurrency: Math.max(1, Number(process.env.BUILDER_E2E_CONCURRENCY ?? 2)) });
    for (const testCase of cases) {
      const code = testCase.expect.error?.code;
      const errorExitCode = code && code in errorCodes ? errorCodes[code as ErrorCode].exitCode : 1;
      const run = queue.add(() => checkCase(builderEngine(root), testCase, `case-${testCase.name}:latest`, testCase.context ?? emptyContext, {
        checkErrorText: true,
        errorExitCode,
      }));
      run.catch(() => undefined); // reported by its own `it`, not as an unhandled rejection before that
      runs.set(testCase.name, run);
    }
  });

  after(async function () {
    await removeTempDir(root);
    await removeTempDir(scratch);
    await removeTempDir(emptyContext);
  });

  it('has the case corpus', function () {
    if (!only && cases.length < 170) throw new Error(`expected at least 170 cases in test-dockerfiles/, found ${cases.length}`);
  });

  for (const testCase of cases) {
    it(`${testCase.name}: ${testCase.expect.description}`, async function () {
      await runs.get(testCase.name);
    });
  }

  // Runs after every case (mocha keeps order): the whole store the cases wrote, against the OCI image-spec schemas.
  it('every manifest, index and config the cases wrote is valid OCI (image-spec schemas, media types, digests)', async function () {
    const problems = await validateLayout(path.join(root, 'oci'));
    assert.deepEqual(problems, [], problems.join('\n'));
  });
});
