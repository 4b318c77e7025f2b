import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { DockerfileParser } from 'dockerfile-ast';
import { directivePrefix, parseDockerfile, parseInstruction } from './parse.js';

describe('dockerfile/parse', () => {
  it('joins continuations, skipping comment and empty lines inside, and keeps line numbers', () => {
    const { instructions } = parseDockerfile(
      ['# syntax=docker/dockerfile:1', '# check=skip=all', 'FROM busybox', '', '# a comment', 'RUN echo a \\', '  # inside', '', '  && echo b', 'CMD ["sh"]'].join('\n'),
    );
    assert.deepEqual(
      instructions.map((i) => [i.keyword, i.line, i.endLine, i.source]),
      [
        ['FROM', 3, 3, 'FROM busybox'],
        ['RUN', 6, 9, 'RUN echo a   && echo b'],
        ['CMD', 10, 10, 'CMD ["sh"]'],
      ],
    );
    assert.equal(instructions[1]!.rest, 'echo a   && echo b');
  });

  it('ends an instruction at an escaped escape character (value\\\\ at the end of a line), as BuildKit', () => {
    const { instructions } = parseDockerfile('FROM busybox\nENV C trailing\\\\backslash\\\\\nENV D=after \\\n\n  # note\n  x\n');
    assert.deepEqual(instructions.map((i) => [i.keyword, i.line, i.endLine, i.rest]), [
      ['FROM', 1, 1, 'busybox'],
      ['ENV', 2, 2, 'C trailing\\\\backslash\\\\'],
      ['ENV', 3, 6, 'D=after   x'],
    ]);
  });

  it('honours # escape=` (backtick continuation; backslash is literal)', () => {
    const parsed = parseDockerfile('# escape=`\nFROM busybox\nRUN echo C:\\ `\n  done\n');
    assert.equal(parsed.escapeChar, '`');
    assert.equal(parsed.instructions[1]!.rest, 'echo C:\\   done');
    assert.equal(parsed.instructions[1]!.endLine, 4);
  });

  it('asks dockerfile-ast about the leading comment and blank lines only, and finds the same directives there', () => {
    const cases = [
      '# escape=`\nFROM busybox\n', '\n# escape=`\nFROM x', ' # escape=`\nFROM x', '#escape=`\n# syntax=x\nFROM x',
      '# comment\n# escape=`\nFROM x', 'FROM x\n# escape=`\n', '# escape=`\r\nFROM x\r\n', '# escape = ` \nFROM x',
      '# escape=`', '', '# syntax=docker/dockerfile:1\n# escape=`\n\nFROM x', '\t#  escape=\\\nRUN x',
      '# escape=`\n# escape=\\\nFROM x', '   \n# escape=`\nFROM x', '# directive=x\n  \n# escape=`\nFROM x',
    ];
    const directives = (text: string): string =>
      JSON.stringify(DockerfileParser.parse(text).getDirectives().map((d) => [d.getDirective(), d.getValue(), d.getRange()?.start.line]));
    for (const text of cases) assert.equal(directives(directivePrefix(text)), directives(text), JSON.stringify(text));
    assert.equal(directivePrefix('# escape=`\n\nFROM x\n# escape=\\\n'), '# escape=`\n\n');
    assert.equal(parseDockerfile('\n# escape=`\nFROM x\n').escapeChar, '\\');
  });

  it('rejects an invalid escape directive', () => {
    assert.throws(() => parseDockerfile('# escape=x\nFROM busybox\n'), (err: unknown) => err instanceof BuildError && err.code === 'DOCKERFILE_PARSE' && err.line === 1);
  });

  it('extracts flags and lower-case keywords', () => {
    const [copy] = parseDockerfile('copy --from=build --chown="a b" --link src /dst\n').instructions;
    assert.equal(copy!.keyword, 'COPY');
    assert.deepEqual(copy!.flags, [{ name: 'from', value: 'build' }, { name: 'chown', value: '"a b"' }, { name: 'link' }]);
    assert.equal(copy!.rest, 'src /dst');
    assert.equal(copy!.source, 'copy --from=build --chown="a b" --link src /dst');
  });

  it('reads heredocs: several per instruction, <<- strips tabs, quoted names disable expansion', () => {
    const text = ['FROM busybox', 'RUN <<EOF', 'echo $HOME', 'RUN not an instruction', 'EOF', 'COPY <<-A <<"B" /dst/', '\tone', '\t\ttwo', '\tA', 'three', 'B', 'USER me'].join('\n');
    const { instructions } = parseDockerfile(text);
    assert.deepEqual(instructions.map((i) => [i.keyword, i.line, i.endLine]), [['FROM', 1, 1], ['RUN', 2, 5], ['COPY', 6, 11], ['USER', 12, 12]]);
    assert.deepEqual(instructions[1]!.heredocs, [{ name: 'EOF', content: 'echo $HOME\nRUN not an instruction\n', chomp: false, expand: true }]);
    assert.deepEqual(instructions[2]!.heredocs, [
      { name: 'A', content: 'one\ntwo\n', chomp: true, expand: true },
      { name: 'B', content: 'three\n', chomp: false, expand: false },
    ]);
    assert.equal(instructions[2]!.source, 'COPY <<-A <<"B" /dst/');
  });

  it('reads heredocs of an ONBUILD trigger (ONBUILD RUN <<EOF), not of ONBUILD RUN ["json"]', () => {
    const { instructions } = parseDockerfile('FROM busybox\nONBUILD RUN <<EOF\necho hi\nEOF\nONBUILD RUN ["a", "<<X"]\nUSER me\n');
    assert.deepEqual(instructions.map((i) => [i.keyword, i.line, i.endLine]), [['FROM', 1, 1], ['ONBUILD', 2, 4], ['ONBUILD', 5, 5], ['USER', 6, 6]]);
    assert.deepEqual(instructions[1]!.heredocs, [{ name: 'EOF', content: 'echo hi\n', chomp: false, expand: true }]);
    assert.deepEqual(instructions[2]!.heredocs, []);
  });

  it('reports an unterminated heredoc at its instruction', () => {
    assert.throws(() => parseDockerfile('FROM busybox\nRUN <<EOF\necho\n'), (err: unknown) => err instanceof BuildError && err.line === 2 && /unterminated heredoc/.test(err.message));
  });

  it('parses a single instruction text (ONBUILD triggers) at a given line', () => {
    const parsed = parseInstruction('RUN --network=none echo hi', 7);
    assert.equal(parsed.keyword, 'RUN');
    assert.equal(parsed.line, 7);
    assert.deepEqual(parsed.flags, [{ name: 'network', value: 'none' }]);
    assert.equal(parsed.rest, 'echo hi');
  });
});
