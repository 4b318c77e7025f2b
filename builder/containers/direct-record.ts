import type { Image } from '../image/types.js';
import type { ContainerProcess } from '../run/container-args.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import type { HostConfig } from './docker-types.js';
import { randomName } from './names.js';
import { bootId, processStart } from './monitor.js';
import { releaseName, reserveName, validateName } from './lookup.js';
import { ContainerPaths, initialState, writeState, type ContainerRecord, type ContainerStateRecord } from './record.js';

/**
 * A `builder run -i/-t` kept without --rm runs on the direct path (runc in the foreground, no monitor), but is
 * recorded as a service container so `ps`, `start`, `logs`-less `inspect` and `rm` know it. While it runs, the
 * CLI itself stands in as its process: if the CLI dies, the truth check reports it exited.
 */
export class DirectRunRecord {
  private constructor(
    private readonly paths: ContainerPaths,
    private readonly record: ContainerRecord,
    private readonly running: ContainerStateRecord,
  ) {}

  /** Claims the name (docker's conflict error) before anything is made. */
  static async claim(containersDir: string, id: string, name: string | undefined): Promise<string> {
    const claimed = name !== undefined ? validateName(name) : randomName(id);
    await reserveName(containersDir, claimed, id);
    return claimed;
  }

  static async begin(
    containersDir: string,
    fields: { id: string; name: string; image: string; imageRef: Image; process: ContainerProcess; hostname: string; tty: boolean;
      interactive: boolean; hostConfig: HostConfig; rootfsDir: string; lowerdirs: string[] },
  ): Promise<DirectRunRecord> {
    const paths = new ContainerPaths(containersDir, fields.id);
    const config = fields.imageRef.config.config ?? {};
    const record = {
      id: fields.id, name: fields.name, created: new Date().toISOString(), image: fields.image,
      imageDigest: fields.imageRef.manifestDescriptor.digest, imageId: fields.imageRef.manifest.config.digest,
      config: {
        Image: fields.image, Hostname: fields.hostname, User: fields.process.user, Env: fields.process.env, Cmd: fields.process.args,
        Entrypoint: [], WorkingDir: fields.process.cwd, Tty: fields.tty, OpenStdin: fields.interactive,
        // docker run -i attaches stdin once: a later start -ai ends the container's stdin with its input.
        StdinOnce: fields.interactive, Labels: config.Labels ?? {},
        ExposedPorts: config.ExposedPorts ?? {}, StopSignal: config.StopSignal || 'SIGTERM',
      },
      hostConfig: { RestartPolicy: { Name: 'no' as const, MaximumRetryCount: 0 }, AutoRemove: false, ...fields.hostConfig },
      path: fields.process.args[0]!, args: fields.process.args.slice(1), rootfsDir: fields.rootfsDir, lowerdirs: fields.lowerdirs,
    };
    const [start, boot] = await Promise.all([processStart(process.pid), bootId()]);
    const running: ContainerStateRecord = {
      ...initialState(), status: 'running', pid: process.pid, pidStart: start, monitorPid: process.pid, monitorStart: start,
      bootId: boot, startedAt: new Date().toISOString(),
    };
    await writeState(paths, running);
    const direct = new DirectRunRecord(paths, record, running);
    await direct.write({});
    return direct;
  }

  /** `upperdir` and `exitCode` stay at the top level too: the direct path's older readers look there. */
  async finish(exitCode: number, upperdir: string): Promise<void> {
    await writeState(this.paths, { ...this.running, status: 'exited', pid: 0, exitCode, finishedAt: new Date().toISOString() });
    await this.write({ exitCode, upperdir });
  }

  /** The run could not start: free the name again. */
  async abandon(): Promise<void> {
    await releaseName(this.paths.containersDir, this.record.name, this.record.id);
  }

  private async write(extra: Record<string, unknown>): Promise<void> {
    await writeFileAtomic(this.paths.record, JSON.stringify({ ...this.record, ...extra }, null, 2) + '\n');
  }
}
