import { strict as assert } from 'node:assert';
import type { BuildEvent, TransferEvent } from '../events.js';
import { bar, TransferProgress, transferLine } from './progress-transfer.js';
import { TtyProgress } from './progress-tty.js';
import { resolveProgressMode, terminalInfo } from './terminal.js';

const fakeStream = (isTTY: boolean): NodeJS.WriteStream => ({ isTTY, columns: 120, rows: 30 }) as unknown as NodeJS.WriteStream;

describe('progress views', function () {
  it('auto is tty only on a terminal whose TERM is not dumb; NO_COLOR keeps the view but drops colour', function () {
    const cases: [boolean, NodeJS.ProcessEnv, string, boolean][] = [
      [true, { TERM: 'xterm' }, 'tty', true],
      [true, { TERM: 'dumb' }, 'plain', false],
      [false, { TERM: 'xterm' }, 'plain', false],
      [true, { TERM: 'xterm', NO_COLOR: '1' }, 'tty', false],
      [true, { TERM: 'xterm', NO_COLOR: '' }, 'tty', true],
    ];
    for (const [isTTY, env, mode, color] of cases) {
      const info = terminalInfo(fakeStream(isTTY), env);
      assert.equal(resolveProgressMode('auto', info, {}), mode, JSON.stringify(env));
      assert.equal(info.color, color, JSON.stringify(env));
    }
    assert.equal(resolveProgressMode('rawjson', terminalInfo(fakeStream(true), {}), {}), 'rawjson');
    assert.equal(resolveProgressMode('auto', terminalInfo(fakeStream(true), {}), { BUILDKIT_PROGRESS: 'plain' }), 'plain', 'BUILDKIT_PROGRESS as buildx');
    assert.equal(resolveProgressMode('tty', terminalInfo(fakeStream(true), {}), { BUILDKIT_PROGRESS: 'plain' }), 'tty', 'an explicit flag wins');
  });

  it('draws docker pull lines: bar, bytes, rate and the final words', function () {
    assert.equal(bar(0), `[>${' '.repeat(49)}]`);
    assert.equal(bar(0.5), `[${'='.repeat(25)}>${' '.repeat(24)}]`);
    assert.equal(bar(1), `[${'='.repeat(50)}]`);
    const event = (status: TransferEvent['status'], extra: Partial<TransferEvent> = {}): TransferEvent =>
      ({ type: 'transfer', direction: 'pull', ref: 'busybox', id: 'a65120d3a65c', status, time: 0, ...extra });
    assert.equal(transferLine(event('downloading', { current: 12_300_000, total: 45_600_000 }), true, 3_100_000),
      `a65120d3a65c: Downloading ${bar(12.3 / 45.6)} 12.3MB/45.6MB 3.1MB/s`);
    assert.equal(transferLine(event('exists'), false, 0), 'a65120d3a65c: Already exists');
    assert.equal(transferLine(event('mounted', { direction: 'push', from: 'library/busybox' }), false, 0), 'a65120d3a65c: Mounted from library/busybox');
    assert.equal(transferLine(event('layer-exists', { direction: 'push' }), false, 0), 'a65120d3a65c: Layer already exists');

    const lines: string[] = [];
    const plain = new TransferProgress((t) => lines.push(t), false);
    for (const status of ['waiting', 'downloading', 'downloading', 'complete', 'complete'] as const) plain.onTransfer(event(status, { current: 1, total: 2 }));
    assert.deepEqual(lines, ['a65120d3a65c: Pull complete\n'], 'one line per layer without a terminal');

    // On a terminal, finished layers at the top leave the redrawn block: the cursor never climbs past them.
    const screen: string[] = [];
    const tty = new TransferProgress((t) => screen.push(t), true, () => 120);
    const layer = (id: string, status: TransferEvent['status']): TransferEvent => ({ ...event(status, { current: 1, total: 2 }), id });
    tty.onTransfer(layer('aaaaaaaaaaaa', 'complete'));
    tty.onTransfer(layer('bbbbbbbbbbbb', 'downloading'));
    (tty as unknown as { draw(): void }).draw();
    tty.onTransfer(layer('bbbbbbbbbbbb', 'downloading'));
    (tty as unknown as { draw(): void }).draw();
    tty.finish();
    assert.ok(screen[0]!.startsWith('aaaaaaaaaaaa: Pull complete\x1b[K\nbbbbbbbbbbbb: Downloading'), screen[0]);
    assert.ok(screen[1]!.startsWith('\x1b[1Fbbbbbbbbbbbb: Downloading'), 'only the moving line is redrawn');
  });

  it('renders the frame with a live timer, collapses finished steps and honours the colour switch', function () {
    let now = 1_000;
    const frames: string[] = [];
    const view = (color: boolean, columns = 60): TtyProgress => new TtyProgress({ write: (t) => frames.push(t), columns: () => columns, rows: () => 20, color }, () => now);
    const tty = view(false);
    const events: BuildEvent[] = [
      { type: 'step.cached', stepId: '#1', name: '[1/3] COPY a b', time: 1_000 },
      { type: 'step.start', stepId: '#2', name: '[2/3] RUN make', time: 1_000, reason: 'src/main.c content changed' },
      { type: 'step.log', stepId: '#2', stream: 'stdout', data: 'cc main.c\ncc util', time: 1_100 },
    ];
    for (const event of events) tty.onEvent(event);
    now = 5_200;
    const running = tty.render(false);
    tty.stop();
    assert.equal(running[0], '[+] Building 4.2s (1/2)');
    assert.equal(running[1], ` => CACHED [1/3] COPY a b${' '.repeat(30)}0.0s`);
    assert.equal(running[2], ` => [2/3] RUN make${' '.repeat(37)}4.2s`);
    assert.deepEqual(running.slice(3), [' => => cache miss: src/main.c content changed', ' => => # cc main.c', ' => => # cc util']);
    tty.onEvent({ type: 'step.done', stepId: '#2', name: '[2/3] RUN make', durationMs: 4_500, time: 5_500 });
    tty.onEvent({ type: 'build.done', imageDigest: 'sha256:abc', durationMs: 4_500, time: 5_500 });
    const final = tty.render(true);
    assert.equal(final[0], '[+] Building 4.5s (2/2) FINISHED');
    assert.equal(final[2], ` => [2/3] RUN make${' '.repeat(37)}4.5s`);
    assert.ok(!final.some((l) => l.includes('# cc')), 'the output lines are gone');
    assert.ok(!frames.join('').includes('\x1b[3'), 'no colour when colour is off');

    // The cache's `warning` event (another branch adds it to the union): after the last frame, a plain line.
    tty.onEvent({ type: 'warning', message: 'cache export failed', time: 5_600 } as unknown as BuildEvent);
    assert.equal(frames.at(-1), 'WARNING: cache export failed\n');

    const warned = view(false);
    warned.onEvent({ type: 'step.start', stepId: '#1', name: '[1/1] RUN x', time: 1_000 });
    warned.onEvent({ type: 'warning', message: 'cache record for "[1/1] RUN x" is broken', time: 1_000 } as unknown as BuildEvent);
    warned.stop();
    assert.ok(warned.render(false).includes(' WARNING: cache record for "[1/1] RUN x" is broken'), 'listed under the steps while running');

    const pulling = view(false, 80);
    const layer = (current: number, time: number): BuildEvent =>
      ({ type: 'transfer', direction: 'pull', ref: 'host/base:1', id: 'e454d8c171be', status: 'downloading', current, total: 100_000_000, time });
    pulling.onEvent(layer(0, 1_000));
    now = 2_000;
    pulling.onEvent(layer(50_000_000, 2_000));
    pulling.stop();
    const pull = pulling.render(false);
    assert.match(pull[1]!, /^ => \[internal\] pull host\/base:1\s+1\.0s$/);
    assert.equal(pull[2], ` => => e454d8c171be: Downloading ${bar(0.5, 19)} 50MB/100MB 50MB/s`, 'a FROM pull shows bar, bytes and rate; the bar shrinks to fit 80 columns');
    assert.ok(pull.every((line) => line.length <= 79));

    const coloured = view(true);
    coloured.onEvent({ type: 'step.cached', stepId: '#1', name: '[1/1] COPY a b', time: 1_000 });
    coloured.stop();
    assert.match(coloured.render(false)[1]!, /^\x1b\[34m => CACHED/);
  });
});
