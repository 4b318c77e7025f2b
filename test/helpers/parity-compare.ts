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
  /** Where current BuildKit differs from the 2021 oracle (or from us, deliberately): why, for readers. */
  note?: string;
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

/** One difference, keyed by what an ignore entry would name (`Config.User`, `author`, or a path). */
export interface Difference {
  field?: string;
  path?: string;
  text: string;
}

/** What the comparison reads from an image config: the container config and the author. */
export interface ComparedConfig {
  author?: string;
  config?: ContainerConfig;
}

/** Config fields (and MAINTAINER's author) that differ, e.g. `Config.User: docker "app", builder "1000"`. */
export function diffConfigs(docker: ComparedConfig, ours: ComparedConfig): Difference[] {
  const differences: Difference[] = [];
  for (const field of PARITY_FIELDS) {
    const want = canonical(docker.config?.[field]);
    const got = canonical(ours.config?.[field]);
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      differences.push({ field, text: `Config.${field}: docker ${JSON.stringify(want)}, builder ${JSON.stringify(got)}` });
    }
  }
  if ((docker.author ?? '') !== (ours.author ?? '')) {
    differences.push({ field: 'author', text: `author: docker ${JSON.stringify(docker.author)}, builder ${JSON.stringify(ours.author)}` });
  }
  return differences;
}

/** Paths whose description differs, is missing or is extra in builder's tree. */
export function diffFileTrees(docker: Map<string, string>, ours: Map<string, string>): Difference[] {
  const differences: Difference[] = [];
  for (const [path, want] of docker) {
    const got = ours.get(path);
    if (got === undefined) differences.push({ path, text: `missing ${path} (docker: ${want})` });
    else if (got !== want) differences.push({ path, text: `differs ${path}: docker ${want}, builder ${got}` });
  }
  for (const [path, got] of ours) if (!docker.has(path)) differences.push({ path, text: `extra ${path} (builder: ${got})` });
  return differences;
}

function covers(entry: ParityIgnore, difference: Difference): boolean {
  if (entry.field !== undefined) return difference.field === entry.field.replace(/^Config\./, '');
  if (entry.path === undefined || difference.path === undefined) return false;
  if (entry.path.endsWith('/**')) {
    const dir = entry.path.slice(0, -3);
    return difference.path === dir || difference.path.startsWith(`${dir}/`);
  }
  return difference.path === entry.path;
}

/** Splits differences into those no ignore entry documents, and ignore entries that matched nothing (stale). */
export function applyIgnores(differences: Difference[], ignore: ParityIgnore[] = []): { undocumented: string[]; stale: ParityIgnore[] } {
  return {
    undocumented: differences.filter((difference) => !ignore.some((entry) => covers(entry, difference))).map((difference) => difference.text),
    stale: ignore.filter((entry) => !differences.some((difference) => covers(entry, difference))),
  };
}
