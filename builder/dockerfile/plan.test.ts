import { strict as assert } from 'node:assert';
import type { ContainerConfig } from '../image/types.js';
import { planBuild } from './plan.js';
import type { BuildPlan, PlanOptions, Step } from './types.js';

/** A plain stand-in for the image resolver: fixed configs by reference, and a record of what was asked. */
function images(configs: Record<string, ContainerConfig> = {}): { resolve: PlanOptions['resolveImageConfig']; asked: [string, number][] } {
  const asked: [string, number][] = [];
  return {
    asked,
    resolve: async (ref, line) => {
      asked.push([ref, line]);
      return configs[ref] ?? { Env: ['PATH=/usr/bin:/bin'] };
    },
  };
}

/** The plan with its ARG steps (history entries only, see types.ts ArgStep) left out: these tests are about scope. */
async function plan(content: string, extra: Partial<PlanOptions> = {}): Promise<BuildPlan> {
  const result = await planBuild({ file: 'Dockerfile', content, buildArgs: {}, resolveImageConfig: images().resolve, ...extra });
  for (const stage of result.stages) stage.steps = stage.steps.filter((step) => step.op !== 'ARG');
  return result;
}

/** The steps of the only (or last) stage without location fields, for compact comparisons. */
async function steps(body: string, extra: Partial<PlanOptions> = {}): Promise<Record<string, unknown>[]> {
  const result = await plan(`FROM busybox\n${body}\n`, extra);
  return result.stages[result.stages.length - 1]!.steps.map((step: Step) => {
    const { line: _line, endLine: _end, source: _source, ...rest } = step;
    return rest;
  });
}

describe('dockerfile/plan instructions', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['RUN echo $HOME && make', { op: 'RUN', form: 'shell', args: ['echo $HOME && make'], heredocs: [], mounts: [], buildArgs: [] }],
    ['RUN ["echo", "$HOME"]', { op: 'RUN', form: 'exec', args: ['echo', '$HOME'], heredocs: [], mounts: [], buildArgs: [] }],
    ['RUN --network=none true', { op: 'RUN', form: 'shell', args: ['true'], heredocs: [], mounts: [], network: 'none', buildArgs: [] }],
    ['RUN --mount=type=bind,source=src,target=/src,from=busybox:1 --mount=type=tmpfs,dst=/t,size=64m --mount=type=secret,id=tok,required x', {
      op: 'RUN', form: 'shell', args: ['x'], heredocs: [], buildArgs: [], mounts: [
        { type: 'bind', target: '/src', readonly: true, source: 'src', from: { image: 'busybox:1' } },
        { type: 'tmpfs', target: '/t', size: 64 * 1024 * 1024 },
        { type: 'secret', id: 'tok', required: true, target: '/run/secrets/tok' },
      ],
    }],
    ['RUN --mount=type=cache,target=/c,id=x,sharing=locked,mode=0755,uid=1,rw x', {
      op: 'RUN', form: 'shell', args: ['x'], heredocs: [], buildArgs: [],
      mounts: [{ type: 'cache', target: '/c', sharing: 'locked', readonly: false, id: 'x', mode: 0o755, uid: 1 }],
    }],
    ['RUN --mount=type=secret,id=s,env=TOKEN x', {
      op: 'RUN', form: 'shell', args: ['x'], heredocs: [], buildArgs: [], mounts: [{ type: 'secret', id: 's', required: false, env: 'TOKEN' }],
    }],
    ['RUN <<EOF\nset -e\necho $HOME\nEOF', { op: 'RUN', form: 'shell', args: ['<<EOF'], heredocs: [{ name: 'EOF', content: 'set -e\necho $HOME\n', chomp: false, expand: true }], mounts: [], buildArgs: [] }],
    ['RUN <<A cat - >/a && sh <<-B\nfile\nA\n\techo b\n\tB', {
      op: 'RUN', form: 'shell', args: ['<<A cat - >/a && sh <<-B'], mounts: [], buildArgs: [],
      heredocs: [{ name: 'A', content: 'file\n', chomp: false, expand: true }, { name: 'B', content: 'echo b\n', chomp: true, expand: true }],
    }],
    ['CMD ["sh", "-c", "echo $X"]', { op: 'CMD', form: 'exec', args: ['sh', '-c', 'echo $X'] }],
    ['CMD echo $X', { op: 'CMD', form: 'shell', args: ['echo $X'] }],
    ['CMD [not json', { op: 'CMD', form: 'shell', args: ['[not json'] }],
    ['ENTRYPOINT ["/bin/app"]', { op: 'ENTRYPOINT', form: 'exec', args: ['/bin/app'] }],
    ['ENTRYPOINT exec app', { op: 'ENTRYPOINT', form: 'shell', args: ['exec app'] }],
    ['SHELL ["/bin/bash", "-c"]', { op: 'SHELL', shell: ['/bin/bash', '-c'] }],
    ['ENV a=b c="d e" f=d\\ e g=\'$PATH\'', { op: 'ENV', vars: [['a', 'b'], ['c', 'd e'], ['f', 'd e'], ['g', '$PATH']] }],
    ['ENV legacy value with  spaces', { op: 'ENV', vars: [['legacy', 'value with  spaces']] }],
    ['ENV P=$PATH:/opt', { op: 'ENV', vars: [['P', '/usr/bin:/bin:/opt']] }],
    ['LABEL a=b "my key"="v 1" c=\'x\'', { op: 'LABEL', vars: [['a', 'b'], ['my key', 'v 1'], ['c', 'x']] }],
    ['LABEL legacy one two', { op: 'LABEL', vars: [['legacy', 'one two']] }],
    // In BuildKit's order: the words as written, sorted (parseExpose), then expanded.
    ['EXPOSE 80 53/udp 8000-8002 443/TCP', { op: 'EXPOSE', ports: ['443/tcp', '53/udp', '80/tcp', '8000/tcp', '8001/tcp', '8002/tcp'] }],
    ['VOLUME ["/data", "/var/log"]', { op: 'VOLUME', paths: ['/data', '/var/log'] }],
    ['VOLUME /a /b', { op: 'VOLUME', paths: ['/a', '/b'] }],
    ['USER app:staff', { op: 'USER', user: 'app:staff' }],
    ['WORKDIR /srv/app', { op: 'WORKDIR', path: '/srv/app' }],
    ['STOPSIGNAL SIGTERM', { op: 'STOPSIGNAL', signal: 'SIGTERM' }],
    ['HEALTHCHECK NONE', { op: 'HEALTHCHECK', healthcheck: { Test: ['NONE'] } }],
    ['HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=2s --retries=3 CMD curl -f http://x/', {
      op: 'HEALTHCHECK', healthcheck: { Test: ['CMD-SHELL', 'curl -f http://x/'], Interval: 30e9, Timeout: 90e9, StartPeriod: 5e8, StartInterval: 2e9, Retries: 3 },
    }],
    ['HEALTHCHECK CMD ["true"]', { op: 'HEALTHCHECK', healthcheck: { Test: ['CMD', 'true'] } }],
    ['ONBUILD RUN echo $X', { op: 'ONBUILD', trigger: 'RUN echo $X' }],
    ['MAINTAINER someone <a@b.c>', { op: 'MAINTAINER', author: 'someone <a@b.c>' }],
    ['COPY a b /dst/', { op: 'COPY', sources: ['a', 'b'], dest: '/dst/', link: false, parents: false, exclude: [], heredocs: [] }],
    ['COPY ["a b", "/dest/"]', { op: 'COPY', sources: ['a b'], dest: '/dest/', link: false, parents: false, exclude: [], heredocs: [] }],
    ['COPY "a b" c\\ d /dst', { op: 'COPY', sources: ['a b', 'c d'], dest: '/dst', link: false, parents: false, exclude: [], heredocs: [] }],
    ['COPY --chown=1:2 --chmod=u+x,g-w --link --parents --exclude=*.md --exclude=tmp src /dst', {
      op: 'COPY', sources: ['src'], dest: '/dst', link: true, parents: true, exclude: ['*.md', 'tmp'], heredocs: [], chown: '1:2', chmod: 'u+x,g-w',
    }],
    ['COPY --from=alpine:3 --link=false /etc/os-release /x', {
      op: 'COPY', sources: ['/etc/os-release'], dest: '/x', link: false, parents: false, exclude: [], heredocs: [], from: { image: 'alpine:3' },
    }],
    ['COPY --chmod=0644 <<EOF /etc/motd\nhello $PATH\nEOF', {
      op: 'COPY', sources: ['EOF'], dest: '/etc/motd', link: false, parents: false, exclude: [], chmod: '0644',
      heredocs: [{ name: 'EOF', content: 'hello /usr/bin:/bin\n', chomp: false, expand: true }],
    }],
    ['ADD --checksum=sha256:abc --keep-git-dir https://example.com/x.tar /x', {
      op: 'ADD', sources: ['https://example.com/x.tar'], dest: '/x', link: false, parents: false, exclude: [], heredocs: [], checksum: 'sha256:abc', keepGitDir: true,
    }],
    ['ADD a.tar /x', { op: 'ADD', sources: ['a.tar'], dest: '/x', link: false, parents: false, exclude: [], heredocs: [], keepGitDir: false }],
  ];
  for (const [body, expected] of cases) {
    it(body.split('\n')[0]!, async () => {
      const result = await steps(body);
      assert.deepEqual(result, expected === undefined ? [] : [expected]);
    });
  }

  it('keeps line, endLine and the unexpanded source on every step', async () => {
    const result = await plan('FROM busybox\nENV X=1\nRUN echo $X \\\n  && true\nCOPY <<EOF /a\nbody\nEOF\n');
    assert.deepEqual(result.stages[0]!.steps.map((s) => [s.line, s.endLine, s.source]), [
      [2, 2, 'ENV X=1'], [3, 4, 'RUN echo $X   && true'], [5, 7, 'COPY <<EOF /a'],
    ]);
    assert.equal(result.stages[0]!.line, 1);
    assert.equal(result.stages[0]!.source, 'FROM busybox');
  });

  it('uses the escape directive (backtick) for continuations and substitution', async () => {
    const result = await plan('# escape=`\nFROM busybox\nENV A=1 B=`$A C=C:\\dir\nRUN dir `\n  C:\\\n');
    const [env, run] = result.stages[0]!.steps;
    assert.deepEqual(env, { op: 'ENV', line: 3, endLine: 3, source: 'ENV A=1 B=`$A C=C:\\dir', vars: [['A', '1'], ['B', '$A'], ['C', 'C:\\dir']] });
    assert.deepEqual(run && run.op === 'RUN' && run.args, ['dir   C:\\']);
  });
});
