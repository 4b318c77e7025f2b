/**
 * Loads the bundled CLI (dist/builder/cli/cli-bundle.cjs, written by scripts/build-cli.ts) through V8's code
 * cache. Why: on Node 20 the ESM loader costs ~0.6 ms of CPU per module and a no-op rebuild loads ~200 of them;
 * one CommonJS file compiled from a code cache loads in a fraction of that (docs/ARCHITECTURE.md, "Start-up
 * cost"). Node 20 has no module.enableCompileCache, so the cache is ours: vm.Script's cachedData.
 *
 * Anything unexpected (no bundle, a bundle older than the compiled modules, BUILDER_NO_BUNDLE=1, --debug) returns
 * undefined and main.ts imports the plain modules: the bundle is an accelerator, never a requirement.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { isHeavyRun } from './code-cache-hint.js';

export interface CliEntry {
  main(argv: string[]): Promise<void>;
}

const DIR = path.dirname(fileURLToPath(import.meta.url));
export const BUNDLE_FILE = path.join(DIR, 'cli-bundle.cjs');
/** Code caches live beside the bundle; scripts/build-cli.ts empties the folder when it writes a new bundle. */
export const CODE_CACHE_DIR = path.join(DIR, '.code-cache');
/**
 * One cache per hot command: V8's cache holds the functions compiled by the run that wrote it, so `ps`
 * and `build` each get their own. Other commands share one.
 */
const CACHED_COMMANDS = new Set(['build', 'run', 'exec', 'ps', 'create', 'start', 'rm', 'container', 'images', 'inspect', 'logs', 'stop']);

function commandOf(argv: string[]): string {
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--root') i++;
    else if (!arg.startsWith('-')) return CACHED_COMMANDS.has(arg) ? arg : 'other';
  }
  return 'other';
}

function readOptional(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Writes the code cache atomically (tmp + rename) so a concurrent CLI never reads half a cache; failures only cost speed. */
function writeCache(file: string, script: vm.Script): void {
  try {
    mkdirSync(CODE_CACHE_DIR, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
    renameSync(tmp, file);
  } catch {
    // A read-only install (dist owned by another user) runs without a cache.
  }
}

export function loadBundle(argv: string[]): CliEntry | undefined {
  if (process.env.BUILDER_NO_BUNDLE === '1') return undefined;
  // --debug prints stacks: the plain modules give them with the real file names and lines.
  if (argv.includes('--debug')) return undefined;
  return runBundle<CliEntry>(BUNDLE_FILE, commandOf(argv));
}

/** The short path to a running daemon (daemon-fast.ts), bundled on its own; undefined when it is not there. */
export interface DaemonFastEntry {
  /** Runs argv and sets process.exitCode; false (having printed nothing) when the whole CLI must run it. */
  tryMain(argv: string[]): Promise<boolean>;
}
export const DAEMON_BUNDLE_FILE = path.join(DIR, 'daemon-build-bundle.cjs');

export function loadDaemonBundle(): DaemonFastEntry | undefined {
  if (process.env.BUILDER_NO_BUNDLE === '1') return undefined;
  return runBundle<DaemonFastEntry>(DAEMON_BUNDLE_FILE, 'daemon-build');
}

/** The short path of `push` and `pull` (registry-fast.ts), bundled on its own; undefined when it is not there. */
export const REGISTRY_BUNDLE_FILE = path.join(DIR, 'registry-bundle.cjs');

export function loadRegistryBundle(command: 'push' | 'pull'): DaemonFastEntry | undefined {
  if (process.env.BUILDER_NO_BUNDLE === '1') return undefined;
  // One cache per command: V8 keeps the functions the writing run compiled, and a push and a pull share little.
  return runBundle<DaemonFastEntry>(REGISTRY_BUNDLE_FILE, `registry-${command}`);
}

/** Compiles one of scripts/build-cli.ts's CommonJS bundles from its code cache (`cacheName` names the cache). */
function runBundle<T>(file: string, cacheName: string): T | undefined {
  let bundle: { size: number; mtimeMs: number };
  try {
    bundle = statSync(file);
    // tsc ran after the bundle was written (someone rebuilt without `npm run build`): the modules are newer.
    if (statSync(path.join(DIR, 'program.js')).mtimeMs > bundle.mtimeMs) return undefined;
  } catch {
    return undefined;
  }
  // V8 checks a cache only against the source's length, so the file name carries the bundle's identity.
  const cacheBase = path.join(CODE_CACHE_DIR, `${cacheName}-${bundle.size}-${Math.trunc(bundle.mtimeMs)}-${process.version}`);
  // Two tiers for `build` (cli/code-cache-hint.ts): one a run that started a RUN container wrote, preferred, and one
  // any run wrote. Only there: `daemon` and `worker` run RUNs too, but share the `other` cache with light commands.
  const lightFile = `${cacheBase}.bin`;
  const heavyFile = cacheName === 'build' ? `${cacheBase}-heavy.bin` : undefined;
  // ASCII only (scripts/build-cli.ts checks), so latin1 decodes it exactly and faster than UTF-8.
  const source = readFileSync(file, 'latin1');
  const heavyData = heavyFile === undefined ? undefined : readOptional(heavyFile);
  const cachedData = heavyData ?? readOptional(lightFile);
  const script = new vm.Script(Module.wrap(source), {
    filename: file,
    cachedData,
  });
  if (cachedData === undefined) {
    process.once('beforeExit', () => writeCache(heavyFile !== undefined && isHeavyRun() ? heavyFile : lightFile, script));
  } else if (script.cachedDataRejected) {
    // Other V8 flags than the writer's: replace the file that was read, so the next run with these flags accepts it.
    process.once('beforeExit', () => writeCache(heavyData !== undefined && heavyFile !== undefined ? heavyFile : lightFile, script));
  } else if (heavyFile !== undefined && heavyData === undefined) {
    // A light run's cache: replaced once a heavy run comes (the check costs nothing; the write ~3-6 ms, once).
    process.once('beforeExit', () => { if (isHeavyRun()) writeCache(heavyFile, script); });
  }
  const mod = new Module(file);
  mod.filename = file;
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, DIR);
  return mod.exports as T;
}
