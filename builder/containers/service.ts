import { BuildError } from '../errors.js';
import type {
  ContainerCreateBody, ContainerCreateResponse, ContainerInspect, ContainerSummary, ExecCreateBody, ExecInspect,
  ExecStdio, ListOptions, LogEntry, LogsOptions, PathStat, PruneResponse, RemoveOptions, StatsResponse, TopResponse,
  WaitCondition, WaitResponse,
} from './docker-types.js';

const notYet = (what: string): never => { throw new BuildError('NOT_SUPPORTED', `${what} is not supported yet`); };

/**
 * The container service: every container command of the CLI and every /containers endpoint of `builder daemon`
 * calls these methods. `ref` is a full id, a unique id prefix or a name (docker's lookup order). Methods take and
 * return Docker Engine API shapes; errors are BuildErrors (CONTAINER_NOT_FOUND 404, CONFLICT 409, …).
 */
export class Containers {
  private constructor(readonly root: string) {}

  /** Opens the service over a store root ($BUILDER_ROOT by default). */
  static async open(root?: string): Promise<Containers> {
    const { defaultRoot } = await import('../store/store.js');
    return new Containers(root ?? defaultRoot());
  }

  /** POST /containers/create: the record, the rootfs and the runtime bundle; state `created`. */
  async create(_body: ContainerCreateBody, _name?: string): Promise<ContainerCreateResponse> { return notYet('create'); }
  /** POST /containers/{id}/start: starts the monitor (which runs runc create/start); resolves once it runs. */
  async start(_ref: string): Promise<void> { return notYet('start'); }
  /** Stop signal, then SIGKILL after `timeoutSeconds` (default the container's StopTimeout, else 10). */
  async stop(_ref: string, _options: { timeoutSeconds?: number; signal?: string } = {}): Promise<void> { return notYet('stop'); }
  async kill(_ref: string, _signal = 'KILL'): Promise<void> { return notYet('kill'); }
  async restart(_ref: string, _options: { timeoutSeconds?: number; signal?: string } = {}): Promise<void> { return notYet('restart'); }
  async pause(_ref: string): Promise<void> { return notYet('pause'); }
  async unpause(_ref: string): Promise<void> { return notYet('unpause'); }
  async wait(_ref: string, _condition: WaitCondition = 'not-running', _signal?: AbortSignal): Promise<WaitResponse> { return notYet('wait'); }
  async remove(_ref: string, _options: RemoveOptions = {}): Promise<void> { return notYet('remove'); }
  async rename(_ref: string, _newName: string): Promise<void> { return notYet('rename'); }
  async list(_options: ListOptions = {}): Promise<ContainerSummary[]> { return notYet('list'); }
  async inspect(_ref: string): Promise<ContainerInspect> { return notYet('inspect'); }
  /** Log lines in order; with `follow` the iterable ends when the container stops (or `signal` aborts). */
  logs(_ref: string, _options: LogsOptions = {}): AsyncIterable<LogEntry> { return notYet('logs'); }
  async top(_ref: string, _psArgs?: string): Promise<TopResponse> { return notYet('top'); }
  async stats(_ref: string): Promise<StatsResponse> { return notYet('stats'); }
  async execCreate(_ref: string, _body: ExecCreateBody): Promise<{ Id: string }> { return notYet('exec'); }
  /** Runs the exec session with the given stdio; resolves its exit code. */
  async execStart(_execId: string, _stdio: ExecStdio): Promise<number> { return notYet('exec'); }
  async execInspect(_execId: string): Promise<ExecInspect> { return notYet('exec'); }
  async archiveStat(_ref: string, _path: string): Promise<PathStat> { return notYet('cp'); }
  /** GET /containers/{id}/archive: a tar of `path` (resolved inside the container's rootfs, links never followed out). */
  async archiveGet(_ref: string, _path: string): Promise<{ stat: PathStat; tar: NodeJS.ReadableStream }> { return notYet('cp'); }
  /** PUT /containers/{id}/archive: extracts `tar` into directory `path` inside the container. */
  async archivePut(_ref: string, _path: string, _tar: NodeJS.ReadableStream): Promise<void> { return notYet('cp'); }
  async prune(_filters: Record<string, string[]> = {}): Promise<PruneResponse> { return notYet('prune'); }
}
