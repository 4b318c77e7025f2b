/**
 * Checks test-dockerfiles/ expectations against real Docker/BuildKit, so the corpus states what
 * Docker does rather than what we happen to do. Opt-in (BUILDER_DOCKER_ORACLE=1): it needs dockerd
 * and takes a few minutes.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkCase, discoverCases } from './helpers/cases.js';
import { DOCKER, dockerEngine, dockerReachable, loadOracleBase, ORACLE_BASE } from './helpers/docker-oracle-engine.js';
import { runCommand } from './helpers/cli.js';

const enabled = process.env.BUILDER_DOCKER_ORACLE === '1';
const only = process.env.BUILDER_CASE;

(enabled ? describe : describe.skip)('test-dockerfiles against docker (oracle)', function () {
  let scratch = '';
  let emptyContext = '';
  const tags: string[] = [];

  before(async function () {
    if (!(await dockerReachable())) {
      console.log(`      skipped: dockerd is not running (\`${DOCKER} info\` failed)`);
      this.skip();
    }
    scratch = await mkdtemp(path.join(os.tmpdir(), 'oracle-'));
    emptyContext = path.join(scratch, 'empty-context');
    await mkdir(emptyContext);
    await loadOracleBase(scratch);
  });

  after(async function () {
    for (const tag of tags) await runCommand(DOCKER, ['rmi', '-f', tag]);
    await runCommand(DOCKER, ['rmi', `${ORACLE_BASE}:latest`]);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  for (const testCase of discoverCases().filter((c) => !only || c.name === only)) {
    it(`${testCase.name}: ${testCase.expect.description}`, async function () {
      const tag = `oracle-${testCase.name}:latest`;
      tags.push(tag);
      const context = testCase.context ?? emptyContext;
      // docker's own wording for failures differs; the exit code and our CLI's text are checked in e2e.
      await checkCase(dockerEngine(scratch), testCase, tag, context, { checkErrorText: false, errorExitCode: 1 });
    });
  }
});
