/**
 * What "the same image as BuildKit" means: the container-facing config fields and the flattened
 * root filesystem agree, except where a case documents a difference with a reason.
 */
import type { ContainerConfig } from '../../builder/image/types.js';

/** One documented difference: a config field or a path (`/dir/**` also covers everything below). */
export interface ParityIgnore {
  field?: string;
  path?: string;
  reason: string;
}

/** expect.json's "parity" block. */
export interface ParityExpectation {
  /** Why Debian's docker.io (BuildKit frontend of 2021) cannot build this case at all. */
  skip?: string;
  ignore?: ParityIgnore[];
}

/** The config fields a container sees; history, created and rootfs differ by design. */
export const PARITY_FIELDS = [
  'Env',
  'Cmd',
  'Entrypoint',
  'WorkingDir',
  'User',
  'ExposedPorts',
  'Volumes',
  'Labels',
  'StopSignal',
  'Healthcheck',
  'Shell',
  'OnBuild',
] as const;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** null, '', [], {} and absent all mean "not set" to a container; so does a zero Healthcheck duration. */
function canonical(value: unknown): unknown {
  if (value === null || value === undefined || value === '') return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value;
  if (!isObject(value)) return value;
  const entries = Object.entries(value)
    // An inner {} is a value (`"80/tcp": {}`), not an absence.
    .map(([key, inner]): [string, unknown] => [key, inner === 0 ? undefined : isObject(inner) ? canonical(inner) ?? {} : canonical(inner)])
    .filter(([, inner]) => inner !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

/** One line per config field that differs, e.g. `Config.User: docker "app", builder "1000"`. */
export function diffConfigs(docker: ContainerConfig | undefined, ours: ContainerConfig | undefined, ignore: ParityIgnore[] = []): string[] {
  const ignored = new Set(ignore.filter((entry) => entry.field).map((entry) => entry.field?.replace(/^Config\./, '')));
  const lines: string[] = [];
  for (const field of PARITY_FIELDS) {
    if (ignored.has(field)) continue;
    const want = canonical(docker?.[field]);
    const got = canonical(ours?.[field]);
    if (JSON.stringify(want) !== JSON.stringify(got)) lines.push(`Config.${field}: docker ${JSON.stringify(want)}, builder ${JSON.stringify(got)}`);
  }
  return lines;
}

function pathIgnored(entry: string, ignore: ParityIgnore[]): boolean {
  return ignore.some(({ path }) => {
    if (!path) return false;
    if (path.endsWith('/**')) {
      const dir = path.slice(0, -3);
      return entry === dir || entry.startsWith(`${dir}/`);
    }
    return entry === path;
  });
}

/** One line per path whose description differs, is missing or is extra in builder's tree. */
export function diffFileTrees(docker: Map<string, string>, ours: Map<string, string>, ignore: ParityIgnore[] = []): string[] {
  const lines: string[] = [];
  for (const [entry, want] of docker) {
    if (pathIgnored(entry, ignore)) continue;
    const got = ours.get(entry);
    if (got === undefined) lines.push(`missing ${entry} (docker: ${want})`);
    else if (got !== want) lines.push(`differs ${entry}: docker ${want}, builder ${got}`);
  }
  for (const [entry, got] of ours) if (!docker.has(entry) && !pathIgnored(entry, ignore)) lines.push(`extra ${entry} (builder: ${got})`);
  return lines;
}
