/**
 * `npm run bench`: cold builds and container starts, ours vs BuildKit vs buildah (vs bare runc),
 * all with their storage on one loop-mounted ext4 scratch fs; results go to stdout and BENCHMARKS.md.
 * Options: --only id,id  --tools builder,buildkit,…  --samples N  --size-gb N  --no-write
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BuildError, errorMessage } from '../builder/errors.js';
import { benchSections, type BenchSection } from './bench-lib/cases.js';
import { runFarmBench } from './bench-lib/farm-bench.js';
import { runNetworkBench } from './bench-lib/network-bench.js';
import { runCommand } from './bench-lib/proc.js';
import { machineSummary, renderCaseRatios, renderTable, replaceSection, type CaseOutcome, type Row } from './bench-lib/report.js';
import { runRunSideBench } from './bench-lib/run-side-bench.js';
import { mountScratchFs, unmountTree, type ScratchFs } from './bench-lib/scratch-fs.js';
import { buildahTool } from './bench-lib/tool-buildah.js';
import { builderTool } from './bench-lib/tool-builder.js';
import { builderDaemonTool } from './bench-lib/tool-builder-daemon.js';
import { buildkitTool, stopBenchDockerd } from './bench-lib/tool-docker.js';
import { runcTool } from './bench-lib/tool-runc.js';
import type { BenchTool, ToolEnv, ToolId } from './bench-lib/tool.js';

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RUN_DIR = '/run/builder-bench';
const SCRATCH_IMAGE = '/var/tmp/builder-bench.img';
const MOUNT_POINT = '/mnt/builder-bench';

const { values: options } = parseArgs({
  options: {
    only: { type: 'string' },
    tools: { type: 'string' },
    samples: { type: 'string' },
    'size-gb': { type: 'string', default: '12' },
    'no-write': { type: 'boolean', default: false },
  },
});

const log = (line: string): void => console.error(`bench: ${line}`);
// Set on SIGINT/SIGTERM so no new sample starts while cleanup tears the tools down.
let stopping = false;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new BuildError('NOT_ROOT', 'the benchmark mounts a loop device and starts daemons: run it as root');
  const onlyCases = options.only?.split(',');
  const onlyTools = options.tools?.split(',');
  const sampleOverride = options.samples ? Number(options.samples) : undefined;
  if (sampleOverride !== undefined && !(sampleOverride >= 1)) throw new BuildError('INVALID_ARGUMENT', '--samples needs a number >= 1');

  const sections = benchSections(REPO_DIR)
    .map((section) => ({ ...section, cases: section.cases.filter((c) => !onlyCases || onlyCases.includes(c.id)) }))
    .filter((section) => section.cases.length > 0);
  const wanted = new Set(sections.flatMap((s) => s.columns.map((c) => c.toolId)));
  const allTools: BenchTool[] = [builderTool(REPO_DIR), builderTool(REPO_DIR, 'crun'), builderDaemonTool(REPO_DIR), buildkitTool(), buildahTool(), runcTool()];

  const skipped = new Map<ToolId, string>();
  const tools = new Map<ToolId, BenchTool>();
  for (const tool of allTools) {
    if (!wanted.has(tool.id)) continue;
    const reason = onlyTools && !onlyTools.includes(tool.id) ? 'not selected' : await tool.unavailable();
    if (reason) {
      skipped.set(tool.id, reason);
      log(`${tool.id}: ${reason}; skipped`);
    } else tools.set(tool.id, tool);
  }

  const busyboxTar = (await runCommand('bash', [join(REPO_DIR, 'scripts/make-busybox.sh'), '--tar-only'])).stdout.trim();
  await stopBenchDockerd(REPO_DIR, RUN_DIR); // a daemon left by a crashed run would hold the old scratch fs
  const sizeBytes = Number(options['size-gb']) * 2 ** 30;
  log(`mounting a ${options['size-gb']} GB ext4 scratch fs at ${MOUNT_POINT}`);
  let scratch: ScratchFs | undefined = await mountScratchFs({ image: SCRATCH_IMAGE, mountPoint: MOUNT_POINT, sizeBytes });
  const started: BenchTool[] = [];
  const cleanup = async (): Promise<void> => {
    for (const tool of started.reverse()) await tool.teardown();
    started.length = 0;
    await scratch?.cleanup();
    scratch = undefined;
    await unmountTree(RUN_DIR);
    await rm(RUN_DIR, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    stopping = true;
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const env: ToolEnv = { repoDir: REPO_DIR, scratchDir: scratch.dir, runDir: RUN_DIR, busyboxTar };
    for (const tool of tools.values()) {
      try {
        started.push(tool);
        await tool.setup(env);
        log(`${tool.id}: ready`);
      } catch (err) {
        skipped.set(tool.id, 'set-up failed');
        tools.delete(tool.id);
        log(`${tool.id}: set-up failed, skipped: ${describe(err)}`);
      }
    }
    const reports: Array<{ section: BenchSection; rows: Row[] }> = [];
    for (const section of sections) {
      const rows: Row[] = [];
      for (const benchCase of section.cases) {
        const outcomes: CaseOutcome[] = [];
        for (const column of section.columns) {
          const tool = tools.get(column.toolId);
          const samples = sampleOverride ?? benchCase.samples;
          if (!tool) outcomes.push({ status: 'skipped', reason: skipped.get(column.toolId) ?? 'not installed' });
          else if (!benchCase.supports(tool)) outcomes.push({ status: 'skipped', reason: 'n/a' });
          else outcomes.push(await measure(benchCase, tool, samples));
        }
        rows.push({ title: benchCase.title, id: benchCase.id, outcomes });
      }
      reports.push({ section, rows });
    }
    await report(reports, (toolId, tags) => tools.get(toolId)?.notes(tags) ?? []);
    const wants = (name: string): boolean => !onlyCases || onlyCases.includes(name);
    const scratchDir = scratch.dir;
    if (wants('farm')) await sectionReport('farm', () => runFarmBench({ repoDir: REPO_DIR, scratchDir, busyboxTar, log }));
    if (wants('run-side')) await sectionReport('run-side', () => runRunSideBench({ repoDir: REPO_DIR, scratchDir, busyboxTar, log }));
    if (wants('network')) await sectionReport('network', () => runNetworkBench({ scratchDir, log }));
    if (wants('daemon')) await sectionReport('daemon', async () => (await import('./bench-lib/daemon-bench.js')).runDaemonBench({ repoDir: REPO_DIR, scratchDir, busyboxTar, log }));
    if (wants('shared-cache')) await sectionReport('shared-cache', async () => (await import('./bench-lib/shared-cache-bench.js')).runSharedCacheBench({ repoDir: REPO_DIR, scratchDir, busyboxTar, runDir: RUN_DIR, log }));
    if (wants('memory')) await sectionReport('memory', async () => (await import('./bench-lib/memory-bench.js')).runMemoryBench({ repoDir: REPO_DIR, scratchDir, busyboxTar, log }));
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function measure(benchCase: BenchSection['cases'][number], tool: BenchTool, samples: number): Promise<CaseOutcome> {
  const samplesMs: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      if (stopping) throw new BuildError('CANCELLED', 'interrupted');
      await benchCase.prepare(tool);
      await runCommand('sync', []); // earlier samples' writeback must not land in this one
      const start = process.hrtime.bigint();
      await benchCase.measure(tool);
      samplesMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    log(`${benchCase.id} / ${tool.id}: ${samplesMs.map((ms) => (ms / 1000).toFixed(2)).join(' s, ')} s`);
    return { status: 'ok', samplesMs };
  } catch (err) {
    log(`${benchCase.id} / ${tool.id}: failed: ${describe(err)}`);
    return { status: 'failed', reason: 'failed' };
  }
}

async function report(
  reports: Array<{ section: BenchSection; rows: Row[] }>,
  notesOf: (toolId: ToolId, tags: string[]) => string[],
): Promise<void> {
  const argv = process.argv.slice(2).join(' ');
  const command = `npm run bench${argv ? ` -- ${argv}` : ''}` +
    ` (= npm run build && bash scripts/setup.sh --bench && node dist/scripts/bench.js${argv ? ` ${argv}` : ''})`;
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const benchmarksPath = join(REPO_DIR, 'BENCHMARKS.md');
  let document = await readFile(benchmarksPath, 'utf8').catch(() => '');
  for (const { section, rows } of reports) {
    const table = renderTable(section.columns.map((c) => ({ toolId: c.toolId, label: c.label, ours: c.ours })), rows);
    const ratios = renderCaseRatios(section.columns, rows, section.caseRatios ?? []);
    const notes = [...ratios, ...section.columns.flatMap((column) => notesOf(column.toolId, section.cases.flatMap((c) => (c.tag ? [c.tag] : []))))];
    // Where the time went (traced builds) and the ratios between cases are worth seeing with --no-write too.
    console.log(`\n${section.title}\n${table}${notes.filter((note) => note.includes('--trace') || ratios.includes(note)).map((note) => `\n- ${note}`).join('')}`);
    const body = [
      `## ${section.title}`,
      '',
      section.description,
      '',
      `- date: ${date}`,
      `- machine: ${machineSummary()}`,
      `- command: \`${command}\``,
      `- storage: every tool on one loop-mounted ext4 scratch fs (${SCRATCH_IMAGE} at ${MOUNT_POINT})`,
      ...notes.map((note) => `- ${note}`),
      '',
      table,
    ].join('\n');
    document = replaceSection(document, section.id, body);
  }
  if (!options['no-write']) {
    await writeFile(benchmarksPath, document);
    log(`wrote ${benchmarksPath}`);
  }
}

/**
 * A section with its own table (farm, network, daemon, …; each in scripts/bench-lib/), printed and written into
 * BENCHMARKS.md between its own markers.
 */
async function sectionReport(name: string, produce: () => Promise<string>): Promise<void> {
  const body = await produce();
  console.log(`\n${body}`);
  if (options['no-write']) return;
  const benchmarksPath = join(REPO_DIR, 'BENCHMARKS.md');
  await writeFile(benchmarksPath, replaceSection(await readFile(benchmarksPath, 'utf8').catch(() => ''), name, `${body}\n\n- date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}\n- machine: ${machineSummary()}`));
}

function describe(err: unknown): string {
  const detail = err instanceof BuildError && err.detail ? `\n${err.detail}` : '';
  return `${errorMessage(err)}${detail}`;
}

main().catch((err: unknown) => {
  console.error(`bench: ${describe(err)}`);
  process.exitCode = err instanceof BuildError && err.code === 'INVALID_ARGUMENT' ? 2 : 1;
});
