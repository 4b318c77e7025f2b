/**
 * The test-dockerfiles/<case>/ corpus: discovery, the expect.json contract, and one checker that
 * runs a case against any engine (our CLI, or docker as the oracle) through the same three verbs.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, type CliResult } from './cli.js';
import type { ParityExpectation } from './parity-compare.js';

/** One run of the built image: `run --rm IMAGE ...cmd` (an empty cmd runs the default command). */
export interface ExpectedRun {
  cmd: string[];
  exitCode?: number;
  stdout?: string;
  stdoutContains?: string;
}

/** One history entry of the built image. */
export interface ExpectedHistory {
  created_by: string;
  empty_layer?: boolean;
  /** Compared only when the expectation gives it (SOURCE_DATE_EPOCH cases). */
  created?: string;
}

/** A negative case: the build fails at `line` with `message` in stderr. */
export interface ExpectedError {
  code: string;
  line: number;
  message: string;
}

/** The contents of expect.json. */
export interface CaseExpectation {
  description: string;
  args?: string[];
  /** Keys compared deep-equal with inspect's [0].Config; null also matches an absent key. */
  config?: Record<string, unknown>;
  run?: ExpectedRun[];
  /** The image's last history entries, oldest first (BuildKit's created_by wording; empty_layer false when absent). */
  history?: ExpectedHistory[];
  error?: ExpectedError;
  /** Documented differences from Docker/BuildKit (test/parity.test.ts). */
  parity?: ParityExpectation;
}

/** A discovered case folder. */
export interface DockerfileCase {
  name: string;
  dir: string;
  dockerfile: string;
  /** The context directory, or undefined when the case has none (an empty one is used). */
  context?: string;
  expect: CaseExpectation;
}

export const casesRoot = path.join(repoRoot, 'test-dockerfiles');

/** Every case folder with an expect.json, sorted by name; bench-* belong to the benchmark. */
export function discoverCases(root = casesRoot): DockerfileCase[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('bench-'))
    .map((entry) => path.join(root, entry.name))
    .filter((dir) => existsSync(path.join(dir, 'expect.json')))
    .sort()
    .map((dir) => {
      const context = path.join(dir, 'context');
      return {
        name: path.basename(dir),
        dir,
        dockerfile: path.join(dir, 'Dockerfile'),
        context: existsSync(context) ? context : undefined,
        expect: JSON.parse(readFileSync(path.join(dir, 'expect.json'), 'utf8')) as CaseExpectation,
      };
    });
}

/** What a checker needs from an engine. */
export interface Engine {
  build(testCase: DockerfileCase, tag: string, context: string): Promise<CliResult>;
  /** inspect's [0].Config of a built image. */
  config(tag: string): Promise<Record<string, unknown>>;
  run(tag: string, cmd: string[]): Promise<CliResult>;
  /** inspect's [0].History, when the engine can show it in BuildKit's wording (the 2021 oracle's differs). */
  history?(tag: string): Promise<ExpectedHistory[]>;
}

/** Options that differ between engines. */
export interface CheckOptions {
  /** Whether to hold stderr to our `Dockerfile:<line>:` + message contract (docker words it its own way). */
  checkErrorText: boolean;
  /** Expected exit code of a failed build. */
  errorExitCode: number;
}

const describeResult = (result: CliResult): string => `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;

/** Builds one case with `engine` and asserts everything its expect.json says. */
export async function checkCase(engine: Engine, testCase: DockerfileCase, tag: string, context: string, options: CheckOptions): Promise<void> {
  const { expect } = testCase;
  const build = await engine.build(testCase, tag, context);
  if (expect.error) {
    assert.equal(build.code, options.errorExitCode, `build should fail with exit ${options.errorExitCode}: ${describeResult(build)}`);
    if (options.checkErrorText) {
      assert.ok(build.stderr.includes(`Dockerfile:${expect.error.line}:`), `stderr should name Dockerfile:${expect.error.line}:\n${build.stderr}`);
      assert.ok(build.stderr.includes(expect.error.message), `stderr should contain ${JSON.stringify(expect.error.message)}:\n${build.stderr}`);
    }
    return;
  }
  assert.equal(build.code, 0, `build failed: ${describeResult(build)}`);
  if (expect.config) {
    const config = await engine.config(tag);
    for (const [key, expected] of Object.entries(expect.config)) {
      const actual = config[key] ?? null;
      assert.deepEqual(actual, expected, `Config.${key}`);
    }
  }
  if (expect.history && engine.history) {
    const history = await engine.history(tag);
    const wanted = expect.history;
    const actual = history.slice(-wanted.length).map((entry, i) => ({
      created_by: entry.created_by, empty_layer: entry.empty_layer ?? false, ...(wanted[i]?.created !== undefined ? { created: entry.created } : {}),
    }));
    assert.deepEqual(actual, wanted.map((entry) => ({ ...entry, empty_layer: entry.empty_layer ?? false })), 'History (last entries)');
  }
  for (const run of expect.run ?? []) {
    const result = await engine.run(tag, run.cmd);
    const what = `run ${JSON.stringify(run.cmd)}`;
    assert.equal(result.code, run.exitCode ?? 0, `${what} exit code: ${describeResult(result)}`);
    if (run.stdout !== undefined) assert.equal(result.stdout, run.stdout, `${what} stdout (stderr: ${result.stderr})`);
    if (run.stdoutContains !== undefined) {
      assert.ok(result.stdout.includes(run.stdoutContains), `${what} stdout should contain ${JSON.stringify(run.stdoutContains)}: ${result.stdout}`);
    }
  }
}
