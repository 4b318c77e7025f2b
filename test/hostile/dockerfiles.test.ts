/**
 * Hostile Dockerfiles, each with the error it must get: planning fails with that code and message (never a raw
 * JavaScript error, never a huge echo), quickly, before anything runs.
 */
import { strict as assert } from 'node:assert';
import { BuildError, type ErrorCode } from '../../builder/errors.js';
import { planBuild } from '../../builder/dockerfile/plan.js';
import { cpuMark, cpuMsSince } from '../helpers/cpu-time.js';

const deep = (n: number): string => `${'${A:-'.repeat(n)}x${'}'.repeat(n)}`;

const CORPUS: [string, string, ErrorCode, RegExp][] = [
  ['nesting 10k deep', `FROM busybox\nENV X=${deep(10_000)}\n`, 'DOCKERFILE_PARSE', /nested more than 64 levels/],
  ['nesting via continuations', `FROM busybox\nENV X=${'${A:-\\\n'.repeat(5_000)}x${'}'.repeat(5_000)}\n`, 'DOCKERFILE_PARSE', /nested more than 64 levels/],
  ['a 70 KB line', `FROM busybox\nRUN echo ${'a'.repeat(70_000)}\n`, 'DOCKERFILE_PARSE', /line greater than max allowed size of 65535/],
  // dockerfile-ast would hold ~190× this in memory (docs/ARCHITECTURE.md "Hardening"): refused before it parses.
  ['a 10 MB line', `FROM busybox\nRUN echo ${'a'.repeat(10_000_000)}\n`, 'DOCKERFILE_PARSE', /line greater than max allowed size of 65535/],
  ['a 70 KB multi-byte line', `FROM busybox\nRUN echo ${'\u00e9'.repeat(33_000)}\n`, 'DOCKERFILE_PARSE', /line greater than max allowed size/],
  // BuildKit's patterns have no bracket expressions (`[z-a]` is literal) but refuse an escape other than \* \? \\ \} \/.
  ['bad escape in ${A#p}', 'FROM busybox\nENV A=x B=${A#\\x}\n', 'DOCKERFILE_INVALID', /invalid pattern "\\x".*invalid escape/],
  ['bad escape in ${A/p/r}', 'FROM busybox\nENV A=x B=${A/a\\q/y}\n', 'DOCKERFILE_INVALID', /invalid pattern/],
  ['backtracking bomb', `FROM busybox\nENV A=${'a'.repeat(20_000)}\nENV B=\${A%%${'*a'.repeat(30)}b}\n`, 'DOCKERFILE_INVALID', /more than 16 wildcards/],
  // BuildKit resolves --from against every stage of the file (later ones too) and refuses cycles.
  ['COPY --from its own stage', 'FROM busybox AS a\nCOPY --from=a /x /x\n', 'DOCKERFILE_INVALID', /circular dependency detected on stage: a/],
  ['COPY --from a later stage that needs this one', 'FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n', 'DOCKERFILE_INVALID', /circular dependency detected on stage/],
  ['RUN --mount from its own stage', 'FROM busybox AS a\nRUN --mount=type=bind,from=a,target=/m true\n', 'DOCKERFILE_INVALID', /circular dependency/],
  ['COPY --from an index past the last stage', 'FROM busybox\nCOPY --from=1 /x /x\n', 'UNKNOWN_STAGE', /invalid stage index 1/],
  ['a passwd file as Dockerfile', 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\nbin:x:2:2::/:/bin/false\n', 'UNKNOWN_INSTRUCTION', /^unknown instruction: ROOT:X:0:0:ROOT:\/ROOT:\/BIN\/SH$/],
  ['an environ-like line', `A=1\0B=2\0${'C'.repeat(500)}\n`, 'UNKNOWN_INSTRUCTION', /^unknown instruction: .{64}…$/],
  ['ONBUILD ONBUILD', 'FROM busybox\nONBUILD ONBUILD RUN x\n', 'DOCKERFILE_INVALID', /Chaining ONBUILD/],
  ['ONBUILD FROM', 'FROM busybox\nONBUILD FROM x\n', 'DOCKERFILE_INVALID', /ONBUILD/],
  ['bad escape directive', '# escape=x\nFROM busybox\n', 'DOCKERFILE_PARSE', /invalid escape token/],
  ['unterminated heredoc', 'FROM busybox\nRUN <<EOF\necho\n', 'DOCKERFILE_PARSE', /heredoc|EOF/i],
  ['unterminated quote', 'FROM busybox\nENV A="x\n', 'DOCKERFILE_PARSE', /double-quote/],
  ['${A:?} unset', 'FROM busybox\nENV B=${NOPE:?must-be-set}\n', 'DOCKERFILE_INVALID', /NOPE: must-be-set/],
  ['bad substitution echo clipped', `FROM busybox\nENV A=\${.${'$'.repeat(10_000)}}\n`, 'DOCKERFILE_PARSE', /^bad substitution in ".{120}…"$/],
  ['only ARG', 'ARG A=1\n', 'NO_FROM', /no stages/],
  ['empty', '', 'NO_FROM', /file with no instructions/],
  ['RUN before FROM', 'RUN id\nFROM busybox\n', 'NO_FROM', /no build stage/],
  ['huge chmod', 'FROM busybox\nCOPY --chmod=99999999999999999999 a b\n', 'DOCKERFILE_INVALID', /chmod/],
  ['reserved stage name', 'FROM busybox AS context\n', 'DOCKERFILE_INVALID', /reserved stage name/],
  ['target not found', 'FROM busybox AS a\n', 'UNKNOWN_STAGE', /target stage "nope" could not be found/],
];

describe('hostile Dockerfiles (planner)', function () {
  after(function () {
    console.log(`      hostile Dockerfiles tried: ${CORPUS.length}`);
  });

  for (const [what, content, code, message] of CORPUS) {
    it(`${what} → ${code}`, async function () {
      const started = cpuMark();
      let error: unknown;
      try {
        await planBuild({ file: 'Dockerfile', content, buildArgs: {}, target: what === 'target not found' ? 'nope' : undefined, resolveImageConfig: async () => ({}) });
      } catch (err) {
        error = err;
      }
      assert.ok(error instanceof BuildError, `expected a BuildError, got ${String(error)}`);
      assert.equal(error.code, code, error.message.slice(0, 300));
      assert.match(error.message, message);
      assert.ok(error.message.length < 1000, `the message echoes ${error.message.length} characters`);
      assert.ok(cpuMsSince(started) < 3000, `planning cost ${cpuMsSince(started)} ms of CPU`);
    });
  }
});
