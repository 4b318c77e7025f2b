/**
 * The terminal view under a real pty (tmux), read from the screen: the running step's timer moves, its last
 * output lines show, a finished step collapses to one line with its time, a failed step shows ERROR, its
 * output tail and the `>>>` excerpt; the same build piped through cat prints BuildKit's plain lines.
 */
import { strict as assert } from 'node:assert';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { cliMain, runCli } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';
import { TmuxScreen, tmuxAvailable } from './helpers/tmux.js';

const SLOW = 'FROM busybox\nRUN for i in 1 2 3 4; do echo tick-$i; sleep 0.7; done\nRUN echo done > /done\n';
const FAILING = 'FROM busybox\nRUN echo before\nRUN echo boom-output && exit 3\nRUN echo never\n';

describe('tty progress (real pty through tmux)', function () {
  this.timeout(120_000);
  let work: string;
  let root: string;
  let screen: TmuxScreen | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('      skipped: building needs root (runc, overlayfs)');
      this.skip();
    }
    if (!tmuxAvailable()) {
      console.log('      skipped: tmux is not installed (apt-get install tmux; scripts/setup.sh does)');
      this.skip();
    }
    work = await makeTempDir('progress-tty');
    root = await makeFixtureRoot('progress-tty-root', work);
  });
  afterEach(async function () {
    await screen?.stop();
    screen = undefined;
  });
  after(async function () {
    if (root) await removeTempDir(root);
    if (work) await removeTempDir(work);
  });

  async function context(name: string, dockerfile: string): Promise<string> {
    const dir = path.join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    return dir;
  }

  const build = (dir: string, extra = ''): string => `cd ${dir} && node ${cliMain} build --no-cache -t tty-test ${extra} .`;
  const env = (): Record<string, string> => ({ BUILDER_ROOT: root, BUILDER_LOOPBACK_ONLY: '1' });

  it('shows a live timer and output tail, then collapses finished steps', async function () {
    const dir = await context('slow', SLOW);
    screen = await TmuxScreen.start(build(dir), 100, 40, env());
    const runLine = (s: string): string | undefined => s.split('\n').find((l) => l.includes('RUN for i in'));
    const seconds = (line: string | undefined): number => Number(/(\d+\.\d)s\s*$/.exec(line ?? '')?.[1] ?? NaN);

    const first = await screen.waitFor((s) => s.includes('# tick-1'), 'the first output line');
    assert.match(first, /^\[\+\] Building \d+\.\ds \(\d+\/\d+\)/m, 'BuildKit header');
    const t1 = seconds(runLine(first));
    const second = await screen.waitFor((s) => s.includes('# tick-3'), 'a later output line');
    const t2 = seconds(runLine(second));
    assert.ok(t2 > t1, `the running step's timer moves (${t1}s then ${t2}s)`);
    assert.match(second, / => => # tick-2/);

    const last = await screen.waitFor((s) => s.includes('[exit 0]'), 'the build to finish');
    assert.match(last, /^\[\+\] Building \d+\.\ds \(3\/3\) FINISHED/m);
    assert.match(last, /^ => \[2\/3\] RUN for i in 1 2 3 4; do echo tick-\$i; sleep 0\.7; done\s+\d+\.\ds$/m, 'the finished step is one line with its time');
    assert.ok(!last.includes('# tick-'), 'finished steps drop their output lines');
    assert.match(last, /=> => cache miss: cache disabled \(--no-cache\)/);
    assert.ok(!/\x1b|\[3[0-9]m/.test(last), 'no stray escapes on screen');
    // Fits the terminal: no line is wider than the 100 columns.
    for (const line of last.split('\n')) assert.ok(line.length <= 100, `line fits: ${line}`);
  });

  it('shows a cached step as CACHED on a rebuild, and adapts to a narrow terminal', async function () {
    const dir = await context('cached', 'FROM busybox\nRUN echo cached-step-output-that-is-rather-long-to-fit-in-forty-columns > /c\n');
    screen = await TmuxScreen.start(`${build(dir).replace('--no-cache ', '')} && ${build(dir).replace('--no-cache ', '')}`, 40, 30, env());
    const last = await screen.waitFor((s) => s.includes('[exit 0]') && s.includes('CACHED'), 'the cached rebuild');
    assert.match(last, /^ => CACHED \[2\/2\] RUN echo cached\S*…\s+0\.0s$/m);
    for (const line of last.split('\n')) assert.ok(line.length <= 40, `line fits 40 columns: ${line}`);
  });

  it('shows a failed step with its error, its output and the >>> excerpt', async function () {
    const dir = await context('failing', FAILING);
    screen = await TmuxScreen.start(build(dir), 120, 40, env());
    const last = await screen.waitFor((s) => /\[exit [1-9]\d*\]/.test(s), 'the build to fail');
    assert.match(last, /^ => ERROR \[3\/4\] RUN echo boom-output && exit 3\s+\d+\.\ds$/m);
    assert.match(last, /^------\n > \[3\/4\] RUN echo boom-output && exit 3:\nboom-output\n------$/m, 'the output tail box');
    assert.match(last, /ERROR: Dockerfile:3: .*exit code: 3/);
    assert.match(last, /^ >>>\s+3 \| RUN echo boom-output && exit 3$/m);
    assert.ok(!last.includes('[4/4]'), 'the step after the failure never starts');
  });

  it('colours finished steps, and NO_COLOR keeps the live view without colour', async function () {
    const dir = await context('colour', 'FROM busybox\nRUN echo colour > /c\n');
    screen = await TmuxScreen.start(`${build(dir)} && echo SPLIT && export NO_COLOR=1 && ${build(dir)}`, 100, 40, env());
    await screen.waitFor((s) => (s.match(/FINISHED/g) ?? []).length === 2 && s.includes('[exit 0]'), 'both builds');
    const [coloured, plain] = screen.capture(true).split('SPLIT');
    assert.match(coloured!, /\x1b\[[0-9;]*34m/, 'blue for finished steps');
    assert.match(plain!, /\[\+\] Building [\d.]+s \(2\/2\) FINISHED/, 'still the live view');
    // tmux writes its own resets (39m, 0m) at the seams: only real colours count.
    assert.doesNotMatch(plain!, /\x1b\[[0-9;]*3[0-7]m/, 'no colour with NO_COLOR');
  });

  it('--progress=rawjson prints one BuildEvent per line', async function () {
    const dir = await context('rawjson', 'FROM busybox\nRUN echo json-line\n');
    const result = await runCli(['build', '--no-cache', '--progress=rawjson', dir], { root });
    assert.equal(result.code, 0, result.stderr);
    const events = result.stderr.trim().split('\n').map((line) => JSON.parse(line) as { type: string; data?: string });
    assert.deepEqual([...new Set(events.map((e) => e.type))].sort(), ['build.done', 'step.done', 'step.log', 'step.start']);
    assert.ok(events.some((e) => e.type === 'step.log' && e.data === 'json-line\n'));
    assert.equal(events.at(-1)?.type, 'build.done');
  });

  it('prints plain progress when stderr is piped, and on a TERM=dumb terminal', async function () {
    const dir = await context('piped', SLOW);
    screen = await TmuxScreen.start(`${build(dir)} 2>&1 | cat`, 120, 40, env());
    const piped = await screen.waitFor((s) => s.includes('[exit 0]'), 'the piped build', 90_000);
    assert.match(piped, /^#2 \[2\/3\] RUN for i in/m);
    assert.match(piped, /^#2 \d+\.\d{3} tick-1$/m);
    assert.match(piped, /^#2 DONE \d+\.\ds$/m);
    assert.ok(!piped.includes('[+] Building'), 'no live view without a terminal');
    await screen.stop();

    // Straight to the terminal this time (no pipe): only TERM=dumb turns the live view off.
    screen = await TmuxScreen.start(`export TERM=dumb && ${build(dir)}`, 120, 40, env());
    const dumb = await screen.waitFor((s) => s.includes('[exit 0]'), 'the TERM=dumb build', 90_000);
    assert.match(dumb, /^#2 DONE \d+\.\ds$/m);
    assert.ok(!dumb.includes('[+] Building'), 'no live view on a dumb terminal');
  });
});
