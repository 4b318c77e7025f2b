/** The default profile's translation: architecture filtering, capability-gated rules, docker's SYS_ADMIN hardening. */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { DEFAULT_CAPABILITIES } from './capabilities.js';
import { DEFAULT_PROFILE_PATH, kernelLacksX32, seccompFor } from './seccomp.js';

const allowed = (profile: ReturnType<typeof seccompFor>, name: string): boolean =>
  profile.syscalls.some((rule) => rule.action === 'SCMP_ACT_ALLOW' && rule.names.includes(name) && !rule.args);

describe('sandbox/seccomp', () => {
  before(function () {
    if (!existsSync(DEFAULT_PROFILE_PATH)) { console.log(`    skipped: ${DEFAULT_PROFILE_PATH} missing (containers-common)`); this.skip(); }
  });

  it('translates the default profile for this architecture and the default capabilities', () => {
    const profile = seccompFor(DEFAULT_CAPABILITIES);
    assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
    // x32 only where the kernel may have the ABI (see trimArchitectures); i386 always.
    if (process.arch === 'x64') assert.deepEqual(profile.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', ...(kernelLacksX32() ? [] : ['SCMP_ARCH_X32'])]);
    assert.ok(allowed(profile, 'read') && allowed(profile, 'chroot'), 'CAP_SYS_CHROOT is a default capability');
    for (const name of ['unshare', 'mount', 'setns', 'clone3', 'bpf', 'keyctl']) assert.ok(!allowed(profile, name), name);
    const clone = profile.syscalls.find((rule) => rule.names.includes('clone') && rule.action === 'SCMP_ACT_ALLOW');
    assert.deepEqual(clone?.args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
    assert.ok(profile.syscalls.some((rule) => rule.names.includes('clone3') && rule.errnoRet === 38));
    for (const rule of profile.syscalls) assert.ok(!('includes' in rule) && !('excludes' in rule), 'no moby-only fields reach runc');
  });

  it('CAP_SYS_ADMIN lifts the gate as in docker; dropping CAP_SYS_CHROOT removes chroot', () => {
    const admin = seccompFor([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    assert.ok(allowed(admin, 'unshare') && allowed(admin, 'mount') && allowed(admin, 'setns'));
    const noChroot = seccompFor(DEFAULT_CAPABILITIES.filter((cap) => cap !== 'CAP_SYS_CHROOT'));
    assert.ok(!allowed(noChroot, 'chroot'));
  });

  it('a profile file keeps its own architectures (only the default profile is trimmed)', () => {
    const profile = JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'], syscalls: [] });
    assert.deepEqual(seccompFor(DEFAULT_CAPABILITIES, profile).architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32']);
  });

  it('accepts inline JSON (what the docker CLI sends) and refuses a non-profile', () => {
    const inline = seccompFor(DEFAULT_CAPABILITIES, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }));
    assert.equal(inline.defaultAction, 'SCMP_ACT_ALLOW');
    assert.throws(() => seccompFor(DEFAULT_CAPABILITIES, '{"syscalls": []}'), /not a docker\/OCI seccomp profile/);
  });
});
