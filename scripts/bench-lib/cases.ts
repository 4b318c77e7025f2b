import { cpSync, readdirSync, rmSync, statSync, utimesSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchTool, ToolId } from './tool.js';
import { registrySection } from './registry-bench.js';

/**
 * One benchmark: `prepare` runs untimed before every sample, `measure` is the timed part.
 * Later issues add cases (warm-cache rebuilds, pushes) by appending to a section or adding one.
 */
export interface BenchCase {
  id: string;
  title: string;
  /** The image tag the case builds (tools that trace their builds report where that build's time went). */
  tag?: string;
  samples: number;
  /** Whether the tool can do this case at all ("n/a" otherwise). */
  supports(tool: BenchTool): boolean;
  prepare(tool: BenchTool): Promise<void>;
  measure(tool: BenchTool): Promise<void>;
}

/** A table in BENCHMARKS.md: its columns (first one is ours) and its cases. */
export interface BenchSection {
  id: string;
  title: string;
  /** What the numbers mean, printed above the table. */
  description: string;
  /** `ours`: a second column of ours, with its own ratios against the peers (report.ts renderTable). */
  columns: Array<{ toolId: ToolId; label: string; ours?: boolean }>;
  cases: BenchCase[];
  /** Ratios between two of its cases, per column, printed under the table (report.ts renderCaseRatios). */
  caseRatios?: Array<{ of: string; to: string; label: string }>;
}

/** A cold build: every cache emptied, only busybox:latest present; median of `samples`. */
function coldBuild(repoDir: string, dir: string, title: string, samples = 3, jobs?: number): BenchCase {
  const context = join(repoDir, 'test-dockerfiles', dir);
  return {
    id: dir,
    title,
    tag: `${dir}:bench`,
    samples,
    supports: (tool) => tool.build !== undefined && tool.resetCaches !== undefined,
    prepare: async (tool) => tool.resetCaches?.({ context }),
    // Cold builds are traced (rebuilds are not: loading the trace writer would add to a no-op rebuild's floor).
    measure: async (tool) => tool.build?.(context, `${dir}:bench`, jobs, { trace: true }),
  };
}

/**
 * A rebuild with a warm cache: the context (a private copy of `dir`) is built once untimed, `change` edits it,
 * then the timed build runs. Each tool keeps its own cache between the two builds.
 */
function rebuild(repoDir: string, dir: string, id: string, title: string, change: (context: string, sample: number) => void, samples = 5): BenchCase {
  const context = join(tmpdir(), `builder-bench-${id}`);
  let sample = 0;
  return {
    id,
    title,
    samples,
    supports: (tool) => tool.build !== undefined && tool.resetCaches !== undefined,
    prepare: async (tool) => {
      rmSync(context, { recursive: true, force: true });
      cpSync(join(repoDir, 'test-dockerfiles', dir), context, { recursive: true });
      await tool.resetCaches?.();
      await tool.build?.(context, `${id}:bench`);
      change(context, sample++);
    },
    measure: async (tool) => tool.build?.(context, `${id}:bench`),
  };
}

function touchAll(dir: string, when: Date): void {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (statSync(file).isDirectory()) touchAll(file, when);
    utimesSync(file, when, when);
  }
}

function runTrue(samples = 10): BenchCase {
  return {
    id: 'run-true',
    title: 'run --rm busybox true',
    samples,
    supports: (tool) => tool.runTrue !== undefined,
    prepare: async () => undefined,
    measure: async (tool) => tool.runTrue?.(),
  };
}

export function benchSections(repoDir: string): BenchSection[] {
  return [
    {
      id: 'cold-build',
      title: 'Cold builds',
      description:
        'Wall time of one build with every cache empty (fresh store for us, `docker builder prune -af` + rmi for ' +
        'BuildKit, `buildah rm -a` + rmi for buildah); only busybox:latest present. Median of 3. "ours via warm daemon" ' +
        'is the same CLI handing the build to a running `builder daemon` (as docker build hands it to dockerd), its ' +
        'caches emptied the same way (rmi + prune, a fresh copy of the context): see its note.',
      columns: [
        { toolId: 'builder', label: 'ours' },
        { toolId: 'builder-daemon', label: 'ours via warm daemon', ours: true },
        { toolId: 'buildkit', label: 'BuildKit' },
        { toolId: 'buildah', label: 'buildah' },
      ],
      cases: [
        coldBuild(repoDir, 'bench-small', 'bench-small (8 steps, COPY + RUN)'),
        coldBuild(repoDir, 'bench-files', 'bench-files (RUN makes 20,000 files)'),
        coldBuild(repoDir, 'bench-big', 'bench-big (RUN makes a 300 MB layer)'),
        coldBuild(repoDir, 'bench-multi', 'bench-multi (3 stages, 24 instructions)'),
        // buildah runs stages one by one unless told; --jobs=3 lets it overlap them as the others do.
        { ...coldBuild(repoDir, 'bench-concurrent', 'concurrent-stages (3 independent 2 s stages + final COPYs; buildah --jobs=3)', 3, 3), id: 'concurrent-stages' },
        // concurrent-stages' longest stage alone: the ratio of the two is what running three stages at once costs.
        { ...coldBuild(repoDir, 'bench-one-stage', 'one 2 s stage alone (FROM busybox + RUN sleep 2)'), id: 'one-stage' },
      ],
      caseRatios: [{ of: 'concurrent-stages', to: 'one-stage', label: 'concurrent-stages / one 2 s stage alone' }],
    },
    {
      id: 'runtime',
      title: 'OCI runtime for RUN steps: runc vs crun',
      description:
        'The cold builds above with our CLI, once with runc (the default) and once with `--runtime crun` ' +
        '(BUILDER_RUNTIME=crun); fresh store each sample, median of 3. The ratio is runc / crun.',
      columns: [
        { toolId: 'builder', label: 'ours (runc)' },
        { toolId: 'builder-crun', label: 'ours (crun)' },
      ],
      cases: [
        { ...coldBuild(repoDir, 'bench-small', 'bench-small (8 steps, COPY + RUN)'), id: 'runtime-small' },
        { ...coldBuild(repoDir, 'bench-multi', 'bench-multi (3 stages, 24 instructions)'), id: 'runtime-multi' },
      ],
    },
    {
      id: 'rebuild',
      title: 'Rebuilds with a warm cache',
      description:
        'bench-small built once (untimed), then changed as named, then rebuilt (timed); median of 5. The edit ' +
        'touches src/main.sh, copied by the 4th instruction, so the COPY and the two RUNs after it must re-run.',
      columns: [
        { toolId: 'builder', label: 'ours' },
        { toolId: 'buildkit', label: 'BuildKit' },
        { toolId: 'buildah', label: 'buildah' },
      ],
      cases: [
        rebuild(repoDir, 'bench-small', 'noop-rebuild', 'no-op rebuild (nothing changed)', () => undefined),
        rebuild(repoDir, 'bench-small', 'edit-rebuild', 'rebuild after editing one late-copied file', (context, sample) =>
          appendFileSync(join(context, 'src', 'main.sh'), `# edit ${sample}\n`)),
        rebuild(repoDir, 'bench-small', 'touch-rebuild', 'rebuild after touching every context file', (context, sample) =>
          touchAll(context, new Date(Date.UTC(2020, 0, 1 + sample)))),
      ],
    },
    {
      id: 'run',
      title: 'Container start',
      description: 'Wall time of running `true` in a new busybox container and removing it. Median of 10.',
      columns: [
        { toolId: 'builder', label: 'builder run' },
        { toolId: 'buildkit', label: 'docker run' },
        { toolId: 'runc', label: 'runc run' },
      ],
      cases: [runTrue()],
    },
    registrySection(repoDir),
  ];
}
