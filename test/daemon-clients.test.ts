/**
 * Two more clients of `builder daemon`: builder's own CLI (BUILDER_HOST), which must print exactly what an embedded
 * build prints, and dockerode (a Docker SDK) as an independent client.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import tar from 'tar-stream';
import { normalizeProgress as normalize, runCli } from './helpers/cli.js';
import { daemonSkipReason, startTestDaemon, writeClientContext, type TestDaemon } from './helpers/daemon-server.js';


describe('builder daemon with builder\'s CLI and dockerode', function () {
  this.timeout(120_000);
  let daemon: TestDaemon;
  let ctxDir: string;

  before(async function () {
    const reason = daemonSkipReason();
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    daemon = await startTestDaemon('daemon-clients');
    ctxDir = await writeClientContext(daemon.dir);
  });
  after(async () => { if (daemon) await daemon.stop(); });

  it('builder build through BUILDER_HOST prints what the embedded build prints', async () => {
    const viaDaemon = (args: string[]) => runCli(args, { root: daemon.root, env: { BUILDER_HOST: `unix://${daemon.socket}` } });
    const first = await viaDaemon(['build', '-t', 'mine:1', '-f', path.join(ctxDir, 'Dockerfile.ok'), ctxDir]);
    assert.equal(first.code, 0, first.stderr);
    const warmDaemon = await viaDaemon(['build', '-t', 'mine:1', '-f', path.join(ctxDir, 'Dockerfile.ok'), ctxDir]);
    const embedded = await runCli(['build', '--no-daemon', '-t', 'mine:1', '-f', path.join(ctxDir, 'Dockerfile.ok'), ctxDir], { root: daemon.root, env: { BUILDER_HOST: `unix://${daemon.socket}` } });
    assert.equal(warmDaemon.code, 0, warmDaemon.stderr);
    assert.equal(warmDaemon.stdout, embedded.stdout, 'same image id');
    assert.equal(normalize(warmDaemon.stderr), normalize(embedded.stderr));
    assert.match(warmDaemon.stderr, /#\d+ CACHED/);

    const failedDaemon = await viaDaemon(['build', ctxDir]);
    const failedEmbedded = await runCli(['build', ctxDir], { root: daemon.root });
    assert.equal(failedDaemon.code, failedEmbedded.code);
    assert.notEqual(failedDaemon.code, 0);
    assert.equal(normalize(failedDaemon.stderr), normalize(failedEmbedded.stderr));
    assert.match(failedDaemon.stderr, />>> +4 \| RUN false/);
  });

  it('dockerode pings, lists, inspects, tags, builds and removes', async () => {
    const docker = new Docker({ socketPath: daemon.socket });
    assert.equal(String(await docker.ping()), 'OK');
    const version = await docker.version();
    assert.equal(version.ApiVersion, '1.47');
    const images = await docker.listImages();
    assert.ok(images.some((image) => image.RepoTags?.includes('busybox:latest')));
    const busybox = await docker.getImage('busybox').inspect();
    assert.match(busybox.Id, /^sha256:/);
    await docker.getImage('busybox').tag({ repo: 'sdk/copy', tag: 'v1' });
    assert.deepEqual((await docker.getImage('sdk/copy:v1').inspect()).Id, busybox.Id);

    const pack = tar.pack();
    pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nRUN echo sdk-build\n');
    pack.finalize();
    const stream = await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: 'sdk/built:1' });
    const messages = await new Promise<{ stream?: string; aux?: { ID: string } }[]>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null, out: unknown[]) => (err ? reject(err) : resolve(out as { stream?: string; aux?: { ID: string } }[]))));
    assert.ok(messages.some((m) => m.stream?.includes('sdk-build')));
    const id = messages.find((m) => m.aux?.ID)?.aux?.ID;
    assert.equal((await docker.getImage('sdk/built:1').inspect()).Id, id);

    const removed = await docker.getImage('sdk/copy:v1').remove();
    assert.deepEqual(removed, [{ Untagged: 'sdk/copy:v1' }]);
    await assert.rejects(docker.getImage('sdk/copy:v1').inspect(), (err: { statusCode?: number }) => err.statusCode === 404);
  });

  it('dockerode creates, starts, waits for and reads the logs of a container', async function () {
    if (!existsSync('/usr/bin/conmon')) {
      console.log('    skipped: conmon is not installed');
      return this.skip();
    }
    const docker = new Docker({ socketPath: daemon.socket });
    const container = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo sdk-out; echo sdk-err >&2; exit 6'], name: 'sdk-run' });
    await container.start();
    assert.equal((await container.wait()).StatusCode, 6);
    const logs = await container.logs({ stdout: true, stderr: true, follow: false });
    // Multiplexed frames: [stream, 0, 0, 0, size] + payload.
    const frames: string[] = [];
    for (let at = 0; at + 8 <= logs.length; at += 8 + logs.readUInt32BE(at + 4)) frames.push(`${logs[at]}:${logs.subarray(at + 8, at + 8 + logs.readUInt32BE(at + 4)).toString()}`);
    assert.deepEqual(frames, ['1:sdk-out\n', '2:sdk-err\n']);
    assert.equal((await container.inspect()).State.ExitCode, 6);
    await container.remove();
    await assert.rejects(container.inspect(), (err: { statusCode?: number }) => err.statusCode === 404);
  });
});
