/** The volume commands' bodies: thin over builder/volume's Docker-shaped functions. */
import { BuildError } from '../errors.js';
import { defaultRoot } from '../store/store.js';
import { createVolume, inspectVolume, listVolumes, pruneVolumes, removeVolume } from '../volume/index.js';
import type { GlobalOptions } from './options.js';
import { formatBytes } from './prune.js';
import { formatTable, inspectEach, parseFilters, parseLabels, removeEach } from './table.js';

const rootOf = (global: GlobalOptions): string => global.root ?? defaultRoot();

export async function volumeCreate(name: string | undefined, opts: { driver: string; label: string[] }, global: GlobalOptions): Promise<void> {
  if (opts.driver !== 'local') throw new BuildError('NOT_SUPPORTED', `error looking up volume plugin ${opts.driver}: plugin "${opts.driver}" not found`);
  const volume = await createVolume(rootOf(global), { name, labels: parseLabels(opts.label) });
  process.stdout.write(`${volume.Name}\n`);
}

export async function volumeLs(opts: { quiet?: boolean; filter: string[] }, global: GlobalOptions): Promise<void> {
  const filters = parseFilters(opts.filter, ['name', 'label', 'dangling']);
  const dangling = filters.dangling?.[0];
  if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling)) throw new BuildError('INVALID_ARGUMENT', `invalid filter 'dangling=${dangling}'`);
  const { Volumes } = await listVolumes(rootOf(global), {
    name: filters.name, label: filters.label, dangling: dangling === undefined ? undefined : dangling === 'true' || dangling === '1',
  });
  if (opts.quiet) {
    for (const volume of Volumes) process.stdout.write(`${volume.Name}\n`);
    return;
  }
  process.stdout.write(formatTable([['DRIVER', 'VOLUME NAME'], ...Volumes.map((v) => [v.Driver, v.Name])]));
}

export async function volumeInspect(names: string[], global: GlobalOptions): Promise<void> {
  await inspectEach(names, 'VOLUME_NOT_FOUND', (name) => inspectVolume(rootOf(global), name));
}

export async function volumeRm(names: string[], opts: { force?: boolean }, global: GlobalOptions): Promise<void> {
  await removeEach(names, (name) => removeVolume(rootOf(global), name, { force: opts.force }));
}

export async function volumePrune(opts: { all?: boolean; filter: string[] }, global: GlobalOptions): Promise<void> {
  const { VolumesDeleted, SpaceReclaimed } = await pruneVolumes(rootOf(global), { all: opts.all, filters: parseFilters(opts.filter, ['label']) });
  if (VolumesDeleted.length > 0) process.stdout.write(`Deleted Volumes:\n${VolumesDeleted.map((n) => `${n}\n`).join('')}\n`);
  process.stdout.write(`Total reclaimed space: ${formatBytes(SpaceReclaimed)}\n`);
}
