/**
 * `builder build --trace FILE`: a real build's Chrome/Perfetto trace (Trace Event Format) parses, every phase of a RUN
 * is nested in its step on the stage's row, durations add up; the same spans reach a real OTLP/HTTP receiver on
 * loopback (JSON, decoded here); `--runtime crun` builds the same image digest as runc; an unknown runtime is refused.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { cliMain, expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

interface TraceEvent { name: string; ph: string; pid: number; tid: number; ts?: number; dur?: number; cat?: string; args?: Record<string, unknown> }

const RUN_PHASES = ['lowerdirs', 'mount', 'bundle', 'runc create', 'runc start+wait', 'commit', 'unmount', 'diff+tar', 'adopt snapshot'];
const DOCKERFILE = 'FROM busybox\nRUN echo one > /one\nCOPY hello.txt /\nRUN cat /one /hello.txt > /both\n';

function skipWithoutCrun(test: Mocha.Context): void {
  if (existsSync('/usr/bin/crun')) return;
  console.log('    skipped: crun is not installed (apt-get install crun)');
  test.skip();
}

describe('build trace (--trace, OTLP) and --runtime', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let contextDir = '';

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    skipped: builds need root (runc, overlayfs)');
      this.skip();
    }
    scratch = await makeTempDir('build-trace-scratch');
    root = await makeFixtureRoot('build-trace-root', scratch);
    contextDir = path.join(scratch, 'ctx');
    await mkdir(contextDir, { recursive: true });
    await writeFile(path.join(contextDir, 'Dockerfile'), DOCKERFILE);
    await writeFile(path.join(contextDir, 'hello.txt'), 'hello\n');
  });

  after(async () => {
    if (root) await removeTempDir(root);
    if (scratch) await removeTempDir(scratch);
  });

  const build = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    runCli(['build', '--progress=plain', '--no-cache', ...args, contextDir], { root, env });

  const within = (inner: TraceEvent, outer: TraceEvent): boolean =>
    inner.tid === outer.tid && inner.ts! >= outer.ts! && inner.ts! + inner.dur! <= outer.ts! + outer.dur!;

  it('writes a Chrome trace: complete events in µs, one row per stage, every RUN phase inside its step', async () => {
    const file = path.join(scratch, 'trace.json');
    const before = Date.now() * 1000;
    expectSuccess(await build(['--trace', file]), 'build --trace');
    const after = Date.now() * 1000;
    const trace = JSON.parse(await readFile(file, 'utf8')) as { traceEvents: TraceEvent[]; displayTimeUnit: string };
    assert.ok(Array.isArray(trace.traceEvents));
    const complete = trace.traceEvents.filter((e) => e.ph === 'X');
    for (const event of trace.traceEvents) {
      assert.ok(event.ph === 'X' || event.ph === 'M', `phase type ${event.ph}`);
      assert.equal(typeof event.pid, 'number');
      assert.equal(typeof event.tid, 'number');
      assert.equal(typeof event.name, 'string');
    }
    for (const event of complete) {
      // ts is µs since the epoch: inside the build's wall-clock window (a ms clock would be 1000× too small).
      assert.ok(Number.isInteger(event.ts) && event.ts! >= before - 1000 && event.ts! <= after, `${event.name} ts ${event.ts}`);
      assert.ok(Number.isInteger(event.dur) && event.dur! >= 0 && event.ts! + event.dur! <= after + 1000, `${event.name} dur ${event.dur}`);
    }
    const threadNames = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name');
    assert.ok(threadNames.some((e) => e.args?.name === 'stage 0'), 'the stage row is named');

    const whole = complete.find((e) => e.cat === 'build')!;
    const steps = complete.filter((e) => e.cat === 'step' && String(e.args?.step).startsWith('['));
    assert.deepEqual(steps.map((s) => s.name), ['[2/4] RUN echo one > /one', '[3/4] COPY hello.txt /', '[4/4] RUN cat /one /hello.txt > /both']);
    for (const step of steps) {
      assert.match(String(step.args?.key), /^sha256:[0-9a-f]{64}$/, 'each step carries its cache key');
      assert.ok(step.ts! >= whole.ts! && step.ts! + step.dur! <= whole.ts! + whole.dur!, 'steps lie inside the build');
    }
    for (const step of steps.filter((s) => s.name.includes('RUN'))) {
      const inside = complete.filter((e) => e !== step && within(e, step));
      for (const phase of RUN_PHASES) assert.ok(inside.some((e) => e.name === phase), `${step.name}: ${phase} in its step (${inside.map((e) => e.name).join(', ')})`);
      // The gzip runs beside the next steps (exec/commit.ts): it starts inside the step, on the background row.
      assert.ok(complete.some((e) => e.name === 'compress+store blob' && e.ts! >= step.ts! && e.ts! <= step.ts! + step.dur!), `${step.name}: its layer's compression starts within the step`);
      // The step's direct phases do not overlap, so they cannot add up to more than the step.
      const direct = inside.filter((e) => ['key', 'exec', 'cache record', 'miss trace'].includes(e.name));
      const sum = direct.reduce((total, e) => total + e.dur!, 0);
      assert.ok(sum <= step.dur! + 10, `phases ${sum} µs within step ${step.dur} µs`);
      const exec = inside.find((e) => e.name === 'exec')!;
      const runtime = inside.filter((e) => e.name.startsWith('runc '));
      assert.ok(runtime.every((e) => within(e, exec)), 'the runtime phases are part of exec');
      assert.ok(runtime.reduce((t, e) => t + e.dur!, 0) <= exec.dur!, 'runtime phases add up to at most exec');
    }
    for (const phase of ['plan', 'export']) assert.ok(complete.some((e) => e.name === phase && within(e, whole)), `${phase} inside the build`);
  });

  it('sends the same spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
    const bodies: { url: string; type: string; body: Buffer }[] = [];
    const server: Server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        bodies.push({ url: request.url ?? '', type: String(request.headers['content-type']), body: Buffer.concat(chunks) });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      expectSuccess(await build([], { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_SERVICE_NAME: 'builder-test' }), 'build with OTLP');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    assert.ok(bodies.length > 0, 'the receiver got a request');
    interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; startTimeUnixNano: string; endTimeUnixNano: string; attributes: { key: string; value: { stringValue?: string } }[] }
    const spans: OtlpSpan[] = [];
    let service = '';
    for (const { url, type, body } of bodies) {
      assert.equal(url, '/v1/traces');
      assert.match(type, /application\/json/);
      const decoded = JSON.parse(body.toString('utf8')) as { resourceSpans: { resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const resourceSpans of decoded.resourceSpans) {
        service ||= resourceSpans.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const scope of resourceSpans.scopeSpans) spans.push(...scope.spans);
      }
    }
    assert.equal(service, 'builder-test');
    assert.equal(new Set(spans.map((s) => s.traceId)).size, 1, 'one trace per build');
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const create = spans.find((s) => s.name === 'runc create');
    assert.ok(create, `runc create among ${spans.map((s) => s.name).join(', ')}`);
    // runc create → exec → the RUN step: the parents are what the Chrome trace nests.
    const exec = byId.get(create.parentSpanId!);
    const step = exec && byId.get(exec.parentSpanId!);
    assert.equal(exec?.name, 'exec');
    assert.match(step?.name ?? '', /^\[2\/4\] RUN echo one/);
    assert.ok(BigInt(create.startTimeUnixNano) >= BigInt(step!.startTimeUnixNano) && BigInt(create.endTimeUnixNano) <= BigInt(step!.endTimeUnixNano));
    assert.match(step!.attributes.find((a) => a.key === 'key')?.value.stringValue ?? '', /^sha256:/);
  });

  it('--runtime crun builds the same image digest as runc', async function () {
    skipWithoutCrun(this);
    // SOURCE_DATE_EPOCH pins history times, so two builds of the same inputs give one digest.
    const pinned = ['--build-arg', 'SOURCE_DATE_EPOCH=1700000000'];
    const file = path.join(scratch, 'crun-trace.json');
    const withCrun = expectSuccess(await build([...pinned, '--runtime', 'crun', '--trace', file]), 'build --runtime crun');
    const withRunc = expectSuccess(await build([...pinned, '--runtime', 'runc']), 'build --runtime runc');
    const fromEnv = expectSuccess(await build(pinned, { BUILDER_RUNTIME: 'crun' }), 'build with BUILDER_RUNTIME=crun');
    assert.equal(withCrun.stdout.trim(), withRunc.stdout.trim());
    assert.equal(fromEnv.stdout.trim(), withRunc.stdout.trim());
    const names = (JSON.parse(await readFile(file, 'utf8')) as { traceEvents: TraceEvent[] }).traceEvents.map((e) => e.name);
    assert.ok(names.includes('crun create') && !names.includes('runc create'), 'the trace names the runtime that ran');
  });

  it('a crun container left by a SIGKILLed build is deleted by the next build (store/reap.ts)', async function () {
    skipWithoutCrun(this);
    const crunRoot = '/run/builder-crun';
    const sleeper = path.join(scratch, 'sleeper');
    await mkdir(sleeper, { recursive: true });
    await writeFile(path.join(sleeper, 'Dockerfile'), 'FROM busybox\nRUN sleep 60\n');
    const before = new Set(await readdir(crunRoot).catch(() => [] as string[]));
    const child = spawn(process.execPath, [cliMain, 'build', '-q', '--runtime', 'crun', sleeper], { env: { ...process.env, BUILDER_ROOT: root }, stdio: 'ignore' });
    let left: string | undefined;
    for (let tries = 0; tries < 200 && !left; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = (await readdir(crunRoot).catch(() => [] as string[])).find((id) => !before.has(id));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    assert.ok(left, 'the RUN container appeared under /run/builder-crun');
    assert.ok(existsSync(path.join(crunRoot, left)), 'SIGKILL left the container behind');
    expectSuccess(await build([]), 'the next build');
    assert.equal(existsSync(path.join(crunRoot, left)), false, 'the next build deleted it');
  });

  it('refuses an unknown runtime with a clear error', async () => {
    const flag = await build(['--runtime', 'kata']);
    assert.equal(flag.code, 2, flag.stderr);
    assert.match(flag.stderr, /--runtime: unknown OCI runtime "kata" \(builder runs RUN steps with runc or crun/);
    const env = await build([], { BUILDER_RUNTIME: 'gvisor' });
    assert.equal(env.code, 2, env.stderr);
    assert.match(env.stderr, /BUILDER_RUNTIME: unknown OCI runtime "gvisor"/);
  });
});
