import type { Command } from 'commander';

/** Commander only: main.ts registers these on every start, so nothing heavy is imported here. */
const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** docker run/create flags after commander. */
export interface CreateFlags {
  detach?: boolean; name?: string; rm?: boolean; interactive?: boolean; tty?: boolean;
  publish: string[]; publishAll?: boolean; network?: string; networkAlias: string[];
  volume: string[]; mount: string[]; tmpfs?: string[]; restart?: string; stopSignal?: string; stopTimeout?: string;
  healthCmd?: string; healthInterval?: string; healthRetries?: string; healthTimeout?: string; healthStartPeriod?: string;
  healthcheck?: boolean; hostname?: string; addHost: string[]; env: string[]; envFile: string[]; label: string[];
  readOnly?: boolean; capAdd: string[]; capDrop: string[]; cpus?: string; memory?: string; pidsLimit?: string;
  init?: boolean; privileged?: boolean; securityOpt: string[]; entrypoint?: string; workdir?: string; user?: string;
  dns: string[]; detachKeys?: string;
}

/** The flags `create` and `run` share, with docker's names. */
export function addCreateFlags(command: Command): Command {
  return command
    .helpOption('--help', 'display help for command')
    .option('--name <name>', 'container name')
    .option('--rm', 'remove the container when it exits')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a terminal')
    .option('--detach-keys <keys>', 'key sequence that detaches an attached run (default ctrl-p,ctrl-q)')
    .option('-e, --env <K=V>', 'set an environment variable; repeatable', collect, [])
    .option('--env-file <file>', 'read environment variables from a file; repeatable', collect, [])
    .option('-l, --label <k=v>', 'set a label; repeatable', collect, [])
    .option('-v, --volume <spec>', 'bind mount /host:/ctr[:ro] or volume NAME:/ctr[:ro]; repeatable', collect, [])
    .option('--mount <spec>', 'type=bind|volume|tmpfs,source=…,target=…[,readonly]; repeatable', collect, [])
    .option('--tmpfs <dir[:opts]>', 'mount a tmpfs (docker\'s noexec,nosuid,nodev; size=, mode=, exec, ro); repeatable', collect, [])
    .option('-p, --publish <spec>', 'publish [IP:][HOST:]CONTAINER[/proto]; repeatable', collect, [])
    .option('-P, --publish-all', 'publish every EXPOSEd port on a free host port')
    .option('--network <mode>', 'host, none, bridge or a network name')
    .option('--network-alias <alias>', 'DNS alias on the network; repeatable', collect, [])
    .option('--dns <ip>', 'DNS server; repeatable', collect, [])
    .option('--add-host <host:ip>', 'add a line to /etc/hosts; repeatable', collect, [])
    .option('-h, --hostname <name>', 'container host name')
    .option('--restart <policy>', 'no, always, unless-stopped, on-failure[:max-retries]')
    .option('--stop-signal <signal>', 'signal that stops the container (default SIGTERM)')
    .option('--stop-timeout <seconds>', 'seconds to wait before SIGKILL on stop (default 10)')
    .option('--health-cmd <cmd>', 'command to check health')
    .option('--health-interval <duration>', 'time between checks (e.g. 30s)')
    .option('--health-timeout <duration>', 'maximum time a check may take')
    .option('--health-start-period <duration>', 'grace period before failures count')
    .option('--health-retries <n>', 'failures in a row before unhealthy')
    .option('--no-healthcheck', 'disable the image\'s HEALTHCHECK')
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--cap-add <cap>', 'add a Linux capability; repeatable', collect, [])
    .option('--cap-drop <cap>', 'drop a Linux capability; repeatable', collect, [])
    .option('--privileged', 'every capability this machine allows, no seccomp, unmasked /proc and /sys')
    .option('--security-opt <opt>', 'seccomp=unconfined|PROFILE.json, no-new-privileges[=false]; repeatable', collect, [])
    .option('--cpus <n>', 'number of CPUs')
    .option('-m, --memory <size>', 'memory limit (e.g. 512m)')
    .option('--pids-limit <n>', 'process limit')
    .option('--init', 'run an init (tini) as pid 1 that reaps zombies and forwards signals')
    .option('--entrypoint <cmd>', 'override the entrypoint')
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user>', 'user[:group]');
}

