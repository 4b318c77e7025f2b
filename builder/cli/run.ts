import { runContainer } from '../run/run-container.js';
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
    root: global.root,
  });
}
