import { BuildError } from '../errors.js';
import type { SecurityOptions } from './spec.js';

/**
 * Docker's `--security-opt` values (and HostConfig.SecurityOpt): `seccomp=unconfined|FILE|JSON`,
 * `no-new-privileges[=true|false]`, with docker's older `:` separator too. Labels and AppArmor have no
 * meaning on this machine (no SELinux/AppArmor in our runtime spec), so they are refused rather than ignored.
 */
export function parseSecurityOpts(
  values: string[],
  flags: { capAdd?: string[]; capDrop?: string[]; privileged?: boolean } = {},
): SecurityOptions {
  const result: SecurityOptions = { ...flags };
  for (const value of values) {
    const match = /^([a-z-]+)(?:[=:](.*))?$/s.exec(value);
    const key = match?.[1];
    const setting = match?.[2];
    if (key === 'seccomp' && setting) {
      result.seccomp = setting === 'unconfined' ? 'unconfined' : setting === 'builtin' || setting === 'default' ? 'default' : setting;
    } else if (key === 'no-new-privileges' && (setting === undefined || setting === 'true' || setting === 'false')) {
      result.noNewPrivileges = setting !== 'false';
    } else if (key === 'label' || key === 'apparmor') {
      throw new BuildError('NOT_SUPPORTED', `--security-opt ${value}: ${key} is not supported by builder (no SELinux/AppArmor in its runtime)`);
    } else {
      throw new BuildError('INVALID_ARGUMENT', `invalid --security-opt: "${value}" (expected seccomp=unconfined|PROFILE.json or no-new-privileges[=true|false])`);
    }
  }
  return result;
}
