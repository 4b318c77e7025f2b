/**
 * Which run writes a command's V8 code cache (cli/bundle-loader.ts). V8 keeps only the functions the writing run
 * compiled, so a `build` cache written by a light run (a no-op rebuild, a failed build, a test's) leaves every
 * later cold build compiling the sandbox, commit and export code lazily: measured, bench-small took 213/218 ms
 * against 190/194 ms with a cache a cold build wrote (437 KB against 1 MB). A run that started a RUN container
 * says so here, and the loader then rewrites a cache that a lighter run wrote, once.
 * A global symbol, not module state: the loader (entry.cjs) and the CLI (cli-bundle.cjs) are separate bundles,
 * each with its own copy of this module.
 */
const HEAVY_RUN = Symbol.for('builder.code-cache.heavy-run');

/** Called where the heaviest path starts (a RUN's runtime): this process's cache is worth keeping. */
export function markHeavyRun(): void {
  (globalThis as Record<symbol, unknown>)[HEAVY_RUN] = true;
}

export function isHeavyRun(): boolean {
  return (globalThis as Record<symbol, unknown>)[HEAVY_RUN] === true;
}
