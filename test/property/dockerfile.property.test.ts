/**
 * Property tests of the Dockerfile parser, planner and expander: for any text, planning either succeeds or throws
 * a BuildError (never a raw JavaScript error such as "Maximum call stack size exceeded"), and it ends quickly.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { BuildError } from '../../builder/errors.js';
import { expandWord, expandWords } from '../../builder/dockerfile/expand.js';
import { planBuild } from '../../builder/dockerfile/plan.js';
import { cpuMark, cpuMsSince } from '../helpers/cpu-time.js';

/** Pieces that reach the parser's and expander's corners: keywords, flags, variables, quotes, heredocs, JSON. */
const PIECES = [
  'FROM ', 'busybox', ' AS ', 'a', 'b', 'RUN ', 'COPY ', 'ADD ', 'ENV ', 'ARG ', 'LABEL ', 'ONBUILD ', 'WORKDIR ', 'USER ',
  'HEALTHCHECK ', 'CMD ', 'ENTRYPOINT ', 'SHELL ', 'EXPOSE ', 'VOLUME ', 'STOPSIGNAL ', 'MAINTAINER ', '--from=', '--mount=',
  'type=cache,target=/c', '--chmod=', '--chown=', '--link', '--platform=', '$', '${', '}', ':-', ':+', '#', '%', '/', '\\',
  '`', '"', "'", '[', ']', ',', '=', ' ', '\t', '\n', '\r\n', '<<EOF', '<<-', 'EOF', '# escape=`', '# syntax=x', '*', '?',
  '..', '0', '9999999999', '[z-a]', '#[', '%%', '//', '${A#', '${A/', '\u00e9', '\u{1F600}', '\0',
];
const dockerfileText = fc.array(fc.constantFrom(...PIECES), { maxLength: 60 }).map((parts) => parts.join(''));

async function planOrBuildError(content: string): Promise<void> {
  try {
    await planBuild({ file: 'Dockerfile', content, buildArgs: { A: 'x' }, resolveImageConfig: async () => ({ Env: ['PATH=/bin'], OnBuild: [] }) });
  } catch (err) {
    if (!(err instanceof BuildError)) throw new Error(`not a BuildError for ${JSON.stringify(content)}: ${String(err)}`);
    // INTERNAL is what a raw JavaScript error is wrapped in: a user must never see one for a Dockerfile.
    if (err.code === 'INTERNAL') throw new Error(`a raw error for ${JSON.stringify(content.slice(0, 200))}: ${err.message}`);
    assert.ok(err.message.length < 20_000, 'an error message echoes far too much');
  }
}

describe('property: Dockerfile parser + planner + expander', function () {
  this.timeout(60_000);

  it('any text plans or fails with a BuildError, fast', async function () {
    await fc.assert(fc.asyncProperty(dockerfileText, async (content) => {
      const started = cpuMark();
      await planOrBuildError(`FROM busybox\n${content}`);
      await planOrBuildError(content);
      assert.ok(cpuMsSince(started) < 2000, `planning cost ${cpuMsSince(started)} ms of CPU`);
    }), { numRuns: 1500, seed: 1414 });
  });

  it('any word expands or fails with a BuildError', function () {
    const word = fc.array(fc.constantFrom('$', '${', '}', ':-', ':+', ':?', 'A', 'B', '\\', '"', "'", ' ', '#', '%', '/', '[', '*'), { maxLength: 40 }).map((p) => p.join(''));
    fc.assert(fc.property(word, fc.constantFrom('\\', '`'), (text, escape) => {
      for (const expand of [() => expandWord(text, { A: 'a', B: '${A}' }, escape), () => expandWords(text, { A: 'a b' }, escape)]) {
        try {
          expand();
        } catch (err) {
          if (!(err instanceof BuildError) || err.code === 'INTERNAL') throw new Error(`not a user error for ${JSON.stringify(text)}: ${String(err)}`);
        }
      }
    }), { numRuns: 1000, seed: 1414 });
  });

  it('deep nesting and huge repetition stay BuildErrors (no stack overflow), in bounded time', async function () {
    const deep = (n: number): string => `${'${A:-'.repeat(n)}x${'}'.repeat(n)}`;
    for (const content of [
      `FROM busybox\nENV X=${deep(10_000)}\n`,
      `FROM busybox\nENV X=${'${A:-\\\n'.repeat(10_000)}x${'}'.repeat(10_000)}\n`,
      'FROM busybox\nENV A=abc\nENV B=${A#[z-a]} C=${A/[z-a]/x}\n',
      `FROM busybox\nENV A=${'a'.repeat(30_000)}\nENV B=\${A%%${'*a'.repeat(40)}b}\n`,
      'FROM busybox\nCOPY [z-a] /x/\n',
      `FROM busybox\nENV X=${deep(20_000)}\n`,
      `FROM busybox\nLABEL x=${'${'.repeat(30_000)}\n`,
      `FROM busybox\nRUN ${'['.repeat(30_000)}\n`,
      `FROM busybox\nCMD ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`,
      `FROM busybox\n${'ONBUILD '.repeat(5_000)}RUN x\n`,
      `FROM busybox\nRUN --mount=${'type=bind,'.repeat(5_000)} x\n`,
      `FROM busybox\nCOPY ${'a '.repeat(20_000)}/d/\n`,
      `${'ARG A=${A}\n'.repeat(2_000)}FROM busybox\n`,
    ]) {
      const started = cpuMark();
      await planOrBuildError(content);
      assert.ok(cpuMsSince(started) < 5000, `cost ${cpuMsSince(started)} ms of CPU: ${content.slice(0, 40)}`);
    }
  });
});
