/**
 * The default seccomp filter per syscall ABI, in a RUN step and in `builder run`: a static probe makes raw
 * syscalls through the native (x86_64), i386 (`int 0x80`) and x32 (bit 30) entry points. The filter's
 * architectures are trimmed where the kernel has no x32 ABI (sandbox/seccomp.ts): whatever the list holds, a
 * gated syscall must fail through every ABI, and an allowed one must still work through i386.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

/** One line per mode: `<mode> <return> <errno>`; stdout unbuffered, so a killed probe keeps the lines before. */
const PROBE_C = String.raw`
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#define CLONE_NEWUSER_FLAG 0x10000000L
static long i386_call(long nr, long arg) { long r; __asm__ volatile ("int $0x80" : "=a"(r) : "a"(nr), "b"(arg) : "memory"); return r; }
int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  for (int i = 1; i < argc; i++) {
    const char *mode = argv[i]; long r = -1; int err = 0; errno = 0;
    if (!strcmp(mode, "getpid")) { r = syscall(SYS_getpid) > 0 ? 0 : -1; err = errno; }
    else if (!strcmp(mode, "unshare")) { r = syscall(SYS_unshare, CLONE_NEWUSER_FLAG); err = errno; }
    else if (!strcmp(mode, "keyctl")) { r = syscall(SYS_keyctl, 0L, 0L); err = errno; }
    else if (!strcmp(mode, "i386-getpid")) { r = i386_call(20, 0); if (r < 0) { err = (int)-r; r = -1; } else r = 0; }
    else if (!strcmp(mode, "i386-unshare")) { r = i386_call(310, CLONE_NEWUSER_FLAG); if (r < 0) { err = (int)-r; r = -1; } }
    else if (!strcmp(mode, "x32-unshare")) { r = syscall(0x40000000L | SYS_unshare, CLONE_NEWUSER_FLAG); err = errno; }
    else return 2;
    printf("%s %ld %d\n", mode, r, r < 0 ? err : 0);
  }
  return 0;
}
`;
const MODES = ['getpid', 'i386-getpid', 'unshare', 'keyctl', 'i386-unshare', 'x32-unshare'];
const EPERM = 1;
const ENOSYS = 38;

function parse(output: string): Map<string, { result: number; errno: number }> {
  const lines = output.split('\n').filter((line) => line.trim() !== '').map((line) => line.trim().split(' '));
  return new Map(lines.filter((parts) => parts.length === 3).map(([mode, result, errno]) => [mode!, { result: Number(result), errno: Number(errno) }]));
}

/** The probe's verdicts: allowed syscalls work through both ABIs; gated ones fail with EPERM; x32 never gets through. */
function assertConfined(output: string, where: string): void {
  const seen = parse(output);
  assert.deepEqual(seen.get('getpid'), { result: 0, errno: 0 }, `${where}: getpid\n${output}`);
  assert.deepEqual(seen.get('i386-getpid'), { result: 0, errno: 0 }, `${where}: i386 getpid (32-bit programs keep working)\n${output}`);
  for (const mode of ['unshare', 'keyctl', 'i386-unshare']) assert.deepEqual(seen.get(mode), { result: -1, errno: EPERM }, `${where}: ${mode}\n${output}`);
  // With x32 in the filter: EPERM (or ENOSYS from a kernel without the ABI); without it the probe is killed here.
  const x32 = seen.get('x32-unshare');
  assert.ok(x32 === undefined || (x32.result === -1 && [EPERM, ENOSYS].includes(x32.errno)), `${where}: x32 unshare got through\n${output}`);
}

describe('seccomp per syscall ABI (native, i386, x32) in RUN and builder run', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let context = '';
  before(async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: needs root for runc'); this.skip(); }
    if (process.arch !== 'x64') { console.log('    skipped: the probe is x86_64 code'); this.skip(); }
    if (!existsSync('/usr/share/containers/seccomp.json')) { console.log('    skipped: containers-common seccomp.json missing'); this.skip(); }
    scratch = await makeTempDir('seccomp-abi-');
    context = path.join(scratch, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(scratch, 'probe.c'), PROBE_C);
    try {
      execFileSync('gcc', ['-static', '-O2', '-o', path.join(context, 'probe'), path.join(scratch, 'probe.c')], { stdio: 'pipe' });
    } catch (err) {
      console.log(`    skipped: cannot compile the static probe (apt-get install gcc libc6-dev): ${(err as Error).message.split('\n')[0]}`);
      this.skip();
    }
    root = await makeFixtureRoot('seccomp-abi-root-', scratch);
  });
  after(async () => { if (root) await removeTempDir(root); if (scratch) await removeTempDir(scratch); });

  it('a RUN step and builder run deny unshare/keyctl through every ABI and keep i386 getpid', async () => {
    await writeFile(path.join(context, 'Dockerfile'), `FROM busybox\nCOPY probe /probe\nRUN /probe ${MODES.join(' ')} > /run.txt; echo "exit=$?" >> /run.txt\n`);
    expectSuccess(await runCli(['build', '-t', 'abi-probe', '--progress', 'plain', context], { root }), 'build');
    const inRun = expectSuccess(await runCli(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'abi-probe', 'cat', '/run.txt'], { root }), 'cat');
    assertConfined(inRun.stdout, 'RUN');
    const container = await runCli(['run', '--rm', 'abi-probe', '/probe', ...MODES], { root });
    assertConfined(container.stdout, 'builder run');
  });

  it('unconfined, the probe tells the difference: keyctl reaches the kernel (EINVAL, not EPERM)', async () => {
    const open = await runCli(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'abi-probe', '/probe', 'keyctl'], { root });
    assert.deepEqual(parse(open.stdout).get('keyctl'), { result: -1, errno: 22 }, open.stdout);
  });
});
