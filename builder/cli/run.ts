import { BuildError } from '../errors.js';
import { runContainer } from '../run/run-container.js';
import { parseSecurityOpts } from '../sandbox/security-opt.js';
import { type GlobalOptions, parsePositiveInt, parseSize } from './options.js';

export interface RunFlags {
  rm?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env: string[];
  volume: string[];
  network: 'host' | 'none';
  entrypoint?: string;
  workdir?: string;
  user?: string;
  name?: string;
  memory?: string;
  pidsLimit?: string;
  capAdd: string[];
  capDrop: string[];
  privileged?: boolean;
  securityOpt: string[];
  readOnly?: boolean;
  hostname?: string;
  cpus?: string;
}

/** `builder run`: the container's exit code becomes ours; signals reach the container. */
export async function runCommand(image: string, command: string[], flags: RunFlags, global: GlobalOptions): Promise<number> {
  return runContainer({
    image,
    cmd: command.length > 0 ? command : undefined,
    entrypoint: flags.entrypoint,
    env: flags.env,
    volumes: flags.volume,
    network: flags.network,
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

/** `--cpus 1.5`: a positive number of CPUs. */
export function parseCpus(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const cpus = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || !(cpus > 0)) throw new BuildError('INVALID_ARGUMENT', `invalid argument "${value}" for "--cpus" flag: expected a positive number`);
  return cpus;
}
