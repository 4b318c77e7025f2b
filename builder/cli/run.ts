import { runContainer } from '../run/run-container.js';
import { parseSecurityOpts } from '../sandbox/security-opt.js';
import type { CreateFlags } from './container-flag-defs.js';
import { type GlobalOptions, parseCpus, parsePositiveInt, parseSize } from './options.js';

export type RunFlags = CreateFlags;

/**
 * `builder run`. A foreground `--rm` run (or one with -i/-t) keeps the direct path — runc in the foreground with our
 * stdio, no monitor, no record — which is what makes `run --rm IMAGE true` fast; everything else (-d, ports, restart
 * policies, named containers without --rm) goes through the container service and its monitor.
 */
export async function runCommand(image: string, command: string[], flags: RunFlags, global: GlobalOptions): Promise<number> {
  const network = flags.network ?? 'default';
  const direct = !flags.detach && (flags.rm === true || flags.interactive === true || flags.tty === true)
    && (network === 'default' || network === 'host' || network === 'none')
    && flags.publish.length === 0 && !flags.publishAll && flags.mount.length === 0 && (flags.tmpfs ?? []).length === 0 && !flags.init && !flags.restart
    && flags.volume.every((spec) => spec.startsWith('/') && spec.includes(':'));
  if (!direct) {
    const { runServiceContainer } = await import('./containers.js');
    return runServiceContainer(image, command, flags, global);
  }
  if (flags.envFile.length > 0 || flags.addHost.length > 0 || flags.label.length > 0) {
    // Handled by the service path's body; the direct path has no record to keep labels in.
    const { runServiceContainer } = await import('./containers.js');
    return runServiceContainer(image, command, flags, global);
  }
  return runContainer({
    image,
    cmd: command.length > 0 ? command : undefined,
    entrypoint: flags.entrypoint,
    env: flags.env,
    volumes: flags.volume,
    network: network === 'none' ? 'none' : 'host',
    workdir: flags.workdir,
    user: flags.user,
    rm: flags.rm === true,
    interactive: flags.interactive === true,
    tty: flags.tty === true,
    name: flags.name,
    memoryBytes: parseSize(flags.memory),
    pidsLimit: parsePositiveInt(flags.pidsLimit, '--pids-limit'),
    security: parseSecurityOpts(flags.securityOpt, { capAdd: flags.capAdd, capDrop: flags.capDrop, privileged: flags.privileged }),
    readonlyRootfs: flags.readOnly === true,
    hostname: flags.hostname,
    cpus: parseCpus(flags.cpus),
    root: global.root,
  });
}

