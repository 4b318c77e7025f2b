import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable, runCommand } from './proc.js';
import type { BenchTool } from './tool.js';

/** Bare `runc run` of an already-unpacked busybox bundle: the floor under any runtime's "run". */
export function runcTool(): BenchTool {
  let bundle = '';
  let stateRoot = '';
  let runs = 0;

  return {
    id: 'runc',
    async unavailable() {
      if (!(await findExecutable('runc'))) return 'not installed';
      return process.getuid?.() === 0 ? undefined : 'needs root';
    },
    async setup(env) {
      bundle = join(env.scratchDir, 'runc', 'bundle');
      stateRoot = join(env.runDir, 'runc-state');
      const rootfs = join(bundle, 'rootfs');
      await mkdir(rootfs, { recursive: true });
      const manifest = await runCommand('tar', ['-xOf', env.busyboxTar, 'manifest.json']);
      const [entry] = JSON.parse(manifest.stdout) as Array<{ Layers: string[] }>;
      for (const layer of entry?.Layers ?? []) {
        // Layer by layer, in order, exactly as a runtime would stack them (no whiteouts in our fixture).
        await runCommand('bash', ['-c', 'tar -xOf "$1" "$2" | tar -x -C "$3"', 'untar', env.busyboxTar, layer, rootfs]);
      }
      await runCommand('runc', ['spec', '--bundle', bundle]);
      const specPath = join(bundle, 'config.json');
      const spec = JSON.parse(await readFile(specPath, 'utf8')) as { process: { args: string[]; terminal: boolean } };
      spec.process.args = ['true'];
      spec.process.terminal = false;
      await writeFile(specPath, JSON.stringify(spec, null, 2));
    },
    async runTrue() {
      await runCommand('runc', ['--root', stateRoot, 'run', '--bundle', bundle, `bench-${process.pid}-${runs++}`]);
    },
    notes: () => ['runc: runc run of a pre-extracted busybox bundle (default runc spec, new netns)'],
    async teardown() {},
  };
}
