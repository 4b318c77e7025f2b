import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { Containers } from '../containers/service.js';
import { Store } from '../store/store.js';
import type { GlobalOptions } from './options.js';
import { packageVersion } from './package-version.js';

const API_VERSION = '1.45';

function commandVersion(command: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, args, (err, stdout) => resolve(err ? 'not installed' : stdout.split('\n')[0]!.trim()));
  });
}

/** `info`: containers by state, images, storage driver, runtime, cgroup version, as docker info names them. */
export async function infoCommand(opts: { format?: string }, global: GlobalOptions): Promise<number> {
  const service = await Containers.open(global.root);
  const store = await Store.open(global.root);
  const [containers, images, runc, conmon] = await Promise.all([
    service.list({ all: true }), store.listImages(), commandVersion('runc', ['--version']), commandVersion('conmon', ['--version']),
  ]);
  const cgroupVersion = await readFile('/sys/fs/cgroup/cgroup.controllers').then(() => '2', () => '1');
  const count = (state: string): number => containers.filter((c) => c.State === state).length;
  const info = {
    ID: os.hostname(), Containers: containers.length, ContainersRunning: count('running'), ContainersPaused: count('paused'),
    ContainersStopped: containers.length - count('running') - count('paused'), Images: new Set(images.map((i) => i.manifest.digest)).size,
    Driver: 'overlay', DockerRootDir: store.root, CgroupDriver: 'cgroupfs', CgroupVersion: cgroupVersion,
    DefaultRuntime: 'runc', Runtimes: { runc: { path: 'runc' } }, RuncVersion: runc, MonitorVersion: conmon,
    KernelVersion: os.release(), OperatingSystem: 'Linux', OSType: 'linux', Architecture: os.arch(), NCPU: os.cpus().length,
    MemTotal: os.totalmem(), Name: os.hostname(), ServerVersion: packageVersion(), SecurityOptions: ['name=seccomp,profile=builtin', 'name=no-new-privileges'],
  };
  if (opts.format === 'json' || opts.format === '{{json .}}') {
    process.stdout.write(`${JSON.stringify(info)}\n`);
    return 0;
  }
  process.stdout.write([
    `Containers: ${info.Containers}`, ` Running: ${info.ContainersRunning}`, ` Paused: ${info.ContainersPaused}`, ` Stopped: ${info.ContainersStopped}`,
    `Images: ${info.Images}`, `Server Version: ${info.ServerVersion} (builder, daemonless)`, `Storage Driver: overlay`, ` Root Dir: ${info.DockerRootDir}`,
    `Cgroup Driver: cgroupfs`, `Cgroup Version: ${cgroupVersion}`, `Runtimes: runc`, `Default Runtime: runc`, ` runc version: ${runc}`,
    `Container monitor: ${conmon}`, `Security Options:`, ` seccomp`, `  Profile: builtin (containers-common, hardened)`, ` no-new-privileges`,
    `Kernel Version: ${info.KernelVersion}`, `Operating System: ${info.OperatingSystem}`, `OSType: linux`, `Architecture: ${info.Architecture}`,
    `CPUs: ${info.NCPU}`, `Total Memory: ${(info.MemTotal / 1024 ** 3).toFixed(2)}GiB`, `Name: ${info.Name}`, '',
  ].join('\n'));
  return 0;
}

export async function versionCommand(opts: { format?: string }, _global: GlobalOptions): Promise<number> {
  const version = packageVersion();
  const runc = await commandVersion('runc', ['--version']);
  const data = {
    Client: { Version: version, ApiVersion: API_VERSION, GoVersion: `node ${process.version}`, Os: 'linux', Arch: os.arch() },
    Server: { Version: version, ApiVersion: API_VERSION, MinAPIVersion: '1.24', Os: 'linux', Arch: os.arch(), KernelVersion: os.release(), Components: [{ Name: 'runc', Version: runc }] },
  };
  if (opts.format === 'json' || opts.format === '{{json .}}') {
    process.stdout.write(`${JSON.stringify(data)}\n`);
    return 0;
  }
  process.stdout.write([
    'Client:', ` Version:           ${version}`, ` API version:       ${API_VERSION}`, ` Node version:      ${process.version}`, ` OS/Arch:           linux/${os.arch()}`,
    '', 'Server: builder (daemonless)', ' Engine:', `  Version:          ${version}`, `  API version:      ${API_VERSION} (minimum version 1.24)`,
    ` runc:`, `  Version:          ${runc}`, '',
  ].join('\n'));
  return 0;
}
