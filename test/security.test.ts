/**
 * The sandbox's confinement end to end through the real CLI, for RUN steps and `builder run` alike (one spec,
 * builder/sandbox/spec.ts): a seccomp filter by default (Seccomp: 2), no user namespaces or mounts inside them,
 * --security-opt seccomp=unconfined|FILE, --cap-add/--cap-drop, --privileged, and clear errors for bad values.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { boundingCapabilities } from '../builder/sandbox/capabilities.js';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const PROBE = 'grep -E "^(Seccomp|CapEff):" /proc/self/status; unshare -U true 2>/dev/null && echo userns=yes || echo userns=no; '
  + 'mkdir -p /m; unshare -Urm mount -t tmpfs none /m 2>/dev/null && echo mount=yes || echo mount=no';

describe('sandbox security: seccomp, capabilities, privileged (CLI)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  before(async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: needs root for runc'); this.skip(); }
    if (!existsSync('/usr/share/containers/seccomp.json')) { console.log('    skipped: containers-common seccomp.json missing'); this.skip(); }
    scratch = await makeTempDir('security-scratch-');
    root = await makeFixtureRoot('security-root-', scratch);
  });
  after(async () => { await removeTempDir(root); await removeTempDir(scratch); });

  it('builder run: Seccomp 2 by default, no user namespace, no tmpfs mount in one', async () => {
    const result = expectSuccess(await runCli(['run', '--rm', 'busybox', 'sh', '-c', PROBE], { root }), 'run');
    assert.match(result.stdout, /^Seccomp:\t2$/m);
    assert.match(result.stdout, /^CapEff:\t00000000a80425fb$/m);
    assert.match(result.stdout, /^userns=no$/m);
    assert.match(result.stdout, /^mount=no$/m);
  });

  it('a detached container and exec in it get the same filter', async function () {
    if (!existsSync('/usr/bin/conmon')) { console.log('    skipped: conmon missing'); this.skip(); }
    expectSuccess(await runCli(['run', '-d', '--name', 'sec', '--network', 'none', 'busybox', 'sleep', '1000'], { root }), 'run -d');
    try {
      const result = expectSuccess(await runCli(['exec', 'sec', 'sh', '-c', PROBE], { root }), 'exec');
      assert.match(result.stdout, /^Seccomp:\t2$/m);
      assert.match(result.stdout, /^userns=no$/m);
      assert.match(result.stdout, /^mount=no$/m);
    } finally {
      await runCli(['rm', '-f', 'sec'], { root });
    }
  });

  it('a RUN step gets the same filter', async () => {
    const context = path.join(scratch, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), `FROM busybox\nRUN (${PROBE}) > /probe.txt\n`);
    expectSuccess(await runCli(['build', '-t', 'probe', '--progress', 'plain', context], { root }), 'build');
    const result = expectSuccess(await runCli(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'probe', 'cat', '/probe.txt'], { root }), 'run');
    assert.match(result.stdout, /^Seccomp:\t2$/m);
    assert.match(result.stdout, /^userns=no$/m);
    assert.match(result.stdout, /^mount=no$/m);
  });

  it('--security-opt seccomp=unconfined and seccomp=FILE', async () => {
    const unconfined = expectSuccess(await runCli(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'grep', '^Seccomp:', '/proc/self/status'], { root }), 'run');
    assert.equal(unconfined.stdout, 'Seccomp:\t0\n');
    const profile = path.join(scratch, 'deny-mkdir.json');
    await writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
    const custom = await runCli(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'sh', '-c', 'mkdir /x && echo made || echo refused'], { root });
    assert.equal(custom.stdout, 'refused\n');
    const bad = await runCli(['run', '--rm', '--security-opt', 'seccomp=/no/such.json', 'busybox', 'true'], { root });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /cannot read seccomp profile \/no\/such\.json/);
  });

  it('--cap-drop, --cap-add, --privileged, and errors for unknown or withheld capabilities', async () => {
    const dropped = expectSuccess(await runCli(['run', '--rm', '--cap-drop', 'ALL', '--cap-add', 'chown', 'busybox', 'grep', '^CapEff:', '/proc/self/status'], { root }), 'run');
    assert.equal(dropped.stdout, 'CapEff:\t0000000000000001\n');
    const sysAdmin = expectSuccess(await runCli(['run', '--rm', '--cap-add', 'SYS_ADMIN', 'busybox', 'sh', '-c', 'mkdir -p /m && mount -t tmpfs none /m && echo mounted'], { root }), 'run');
    assert.equal(sysAdmin.stdout, 'mounted\n');
    const privileged = expectSuccess(await runCli(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'grep -E "^Seccomp:" /proc/self/status; wc -c < /proc/keys'], { root }), 'run');
    assert.match(privileged.stdout, /^Seccomp:\t0\n/);
    const unknown = await runCli(['run', '--rm', '--cap-add', 'FLY', 'busybox', 'true'], { root });
    assert.equal(unknown.code, 2);
    // moby's words (one checker for builder run and the daemon): the HostConfig field, not the flag.
    assert.match(unknown.stderr, /invalid CapAdd: unknown capability: "FLY"/);
    if (!boundingCapabilities().includes('CAP_SYS_RESOURCE')) {
      // This machine's bounding set lacks CAP_SYS_RESOURCE (COMMON.md): asking for it is a clear error.
      const withheld = await runCli(['run', '--rm', '--cap-add', 'SYS_RESOURCE', 'busybox', 'true'], { root });
      assert.equal(withheld.code, 2);
      assert.match(withheld.stderr, /does not grant CAP_SYS_RESOURCE/);
    }
  });
});
