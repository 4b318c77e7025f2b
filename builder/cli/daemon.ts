/**
 * `builder daemon`: the Docker Engine API on docker's `-H` addresses (default unix:///run/builder/docker.sock),
 * with docker's TLS flags. SIGTERM/SIGINT shut it down cleanly; containers keep running.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { BuildError } from '../errors.js';
import { parseSize, type GlobalOptions } from './options.js';
// Registered on every CLI start: the store module is imported only when the daemon actually runs.

interface DaemonFlags {
  host: string[];
  group?: string;
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
  authTokenFile?: string;
  maxBodySize?: string;
  logLevel: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

async function daemonCommand(flags: DaemonFlags, global: GlobalOptions): Promise<number> {
  const { startDaemon } = await import('../../api/docker/daemon-server.js');
  const { DEFAULT_SOCKET } = await import('../../api/docker/listen.js');
  const { defaultRoot } = await import('../store/store.js');
  let tls;
  if (flags.tlsverify) {
    if (!flags.tlscacert || !flags.tlscert || !flags.tlskey) {
      throw new BuildError('INVALID_ARGUMENT', '--tlsverify needs --tlscacert, --tlscert and --tlskey');
    }
    tls = { ca: flags.tlscacert, cert: flags.tlscert, key: flags.tlskey };
  }
  const token = flags.authTokenFile ? readFileSync(flags.authTokenFile, 'utf8').trim() : undefined;
  if (flags.authTokenFile && !token) throw new BuildError('INVALID_ARGUMENT', `--auth-token-file ${flags.authTokenFile} is empty`);
  const daemon = await startDaemon({
    root: global.root ?? defaultRoot(),
    hosts: flags.host.length > 0 ? flags.host : [`unix://${DEFAULT_SOCKET}`],
    group: flags.group,
    tls,
    token,
    maxBodyBytes: parseSize(flags.maxBodySize),
    logLevel: flags.logLevel,
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  daemon.ctx.log?.info({ signal }, 'shutting down; containers keep running');
  await daemon.close();
  return 0;
}

export function registerDaemonCommand(program: Command): void {
  program.command('daemon')
    .description('Serve the Docker Engine API (docker CLI, SDKs) on a unix socket or TCP')
    .option('-H, --host <address>', 'unix:///path, tcp://host:port or fd://; repeatable (default unix:///run/builder/docker.sock)', collect, [])
    .option('-G, --group <group>', 'group that may use the unix socket (besides root)')
    .option('--tlsverify', 'require TLS client certificates on TCP')
    .option('--tlscacert <file>', 'CA that signs client certificates')
    .option('--tlscert <file>', 'server certificate')
    .option('--tlskey <file>', 'server key')
    .option('--auth-token-file <file>', 'TCP without TLS: require "Authorization: Bearer <token from file>"')
    .option('--max-body-size <size>', 'largest build context or image archive accepted (default 1g)')
    .option('--log-level <level>', 'pino log level (debug, info, warn, error)', 'info')
    .action(async (flags: DaemonFlags) => {
      process.exitCode = await daemonCommand(flags, program.opts());
    });
}
