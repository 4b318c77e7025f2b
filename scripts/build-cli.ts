/**
 * Bundles the compiled CLI (dist/builder/cli/program.js and everything it imports, lazily or not) into one
 * CommonJS file, dist/builder/cli/cli-bundle.cjs, which main.ts loads through V8's code cache
 * (builder/cli/bundle-loader.ts). Run by `npm run build` after tsc. Why one CommonJS file:
 * - Node 20's ESM loader pays per module (resolve, async read, compile, link); one file pays once.
 * - esbuild's ESM output hoists every static import of an external package to the top, so `fastify` would load
 *   on every call; in CommonJS output those are require() calls inside each module's lazy init.
 * - Node 20.19+ require()s ESM-only packages, so the externals load either way.
 * Heavy packages used only by serve/worker/daemon stay external (loaded from node_modules on first use);
 * the small ones on hot paths are bundled. A new dependency is external by default.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cliDir = path.join(repo, 'dist', 'builder', 'cli');
/** Dependencies that every build/run/ps touches: bundled. */
const BUNDLED = new Set(['commander', 'dockerfile-ast', 'tar-stream', 'p-queue', 'smol-toml', '@balena/dockerignore']);

const pkg = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};
const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})].filter((name) => !BUNDLED.has(name));

/** Rewrites `import.meta.url` (and .filename/.dirname) in each of our compiled modules to that module's own (CJS has no import.meta). */
const ownImportMetaUrl: Plugin = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/].*\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta.')) return undefined;
      const rel = JSON.stringify(path.relative(cliDir, args.path).split(path.sep).join('/'));
      const contents = source
        .replaceAll('import.meta.url', `__builderModuleUrl(${rel})`)
        .replaceAll('import.meta.filename', `__builderModulePath(${rel})`)
        .replaceAll('import.meta.dirname', `require('node:path').dirname(__builderModulePath(${rel}))`);
      return { contents, loader: 'js' };
    });
  },
};

/**
 * commander requires node:child_process at load (for executable subcommands, which we have none of), and that
 * loads net, dgram and socket_list: ~3 ms on every call that spawns nothing (`build` through a daemon). Its
 * require becomes a proxy that loads the module on first use, so commander behaves the same.
 */
const lazyChildProcessForCommander: Plugin = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      (/[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      contents: "let loaded; module.exports = new Proxy({}, { get: (_, key) => (loaded ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

/** The program.js import the entry keeps: the plain modules, when there is no bundle. */
const keepProgramImport: Plugin = {
  name: 'keep-program-import',
  setup(b) {
    b.onResolve({ filter: /^\.\/program\.js$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * One CommonJS bundle from `entry` (a compiled module in dist/builder/cli) to `name` beside it. Written to a temp
 * file and renamed in, so a CLI starting during `npm run build` never reads half a bundle. False when esbuild
 * cannot bundle it (the CLI then runs the plain modules).
 */
async function bundle(entry: string, name: string, options: { loadsProgram?: boolean } = {}): Promise<boolean> {
  const bundleFile = path.join(cliDir, name);
  const temp = `${bundleFile}.tmp-${process.pid}`;
  const built = await build({
    entryPoints: [path.join(cliDir, entry)],
    outfile: temp,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external,
    // import() of an external becomes require() (Node 20.19+ loads ESM that way too): a vm.Script has no ESM
    // loader of its own without an experimental flag. The entry is a real file run by node, so its one import()
    // (program.js, the plain modules) stays one.
    supported: { 'dynamic-import': options.loadsProgram === true },
    // Modules find files beside themselves (package.json, dist/web, cli/main.js) from import.meta.url: each keeps its
    // own, as a path relative to the bundle, so the bundle finds the same files and dist/ can still move.
    plugins: [ownImportMetaUrl, lazyChildProcessForCommander, ...(options.loadsProgram ? [keepProgramImport] : [])],
    banner: {
      // "use strict" first: our modules are ESM, strict by definition; a banner before esbuild's own directive
      // would otherwise turn the whole bundle into sloppy mode.
      js: "'use strict';\nconst __builderModulePath = (rel) => require('node:path').join(__dirname, rel);\n"
        + "const __builderModuleUrl = (rel) => require('node:url').pathToFileURL(__builderModulePath(rel)).href;",
    },
    // Whitespace and comments only: identifiers keep their names, so stack traces and `.name` stay readable.
    minifyWhitespace: true,
    legalComments: 'none',
    charset: 'ascii',
    logLevel: 'warning',
  }).then(() => true, (err: Error) => {
    // The bundle only speeds the CLI up: code it cannot bundle (a top-level await, say) must not fail the build.
    // Without a bundle, main.ts runs the plain modules.
    console.warn(`build-cli: WARNING: ${name} was not built, so the CLI starts slower (plain modules): ${err.message}`);
    return false;
  });
  if (built) {
    // bundle-loader.ts reads the file as latin1 (half the cost of decoding UTF-8), which is only right for ASCII.
    // esbuild's charset=ascii escapes strings and identifiers but not regular expression literals (the duration
    // parsers' `µs`); \uXXXX means the same character there, so what is left is escaped per UTF-16 unit.
    const text = await readFile(temp, 'utf8');
    const ascii = text.replace(/[^\x00-\x7f]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
    if (ascii !== text) await writeFile(temp, ascii);
    await rename(temp, bundleFile);
  } else {
    await rm(temp, { force: true });
    await rm(bundleFile, { force: true });
  }
  return built;
}

await bundle('program.js', 'cli-bundle.cjs');
// The short path to a running daemon (builder/cli/daemon-fast.ts), and the entry bin/builder runs (entry.ts).
await bundle('daemon-fast.js', 'daemon-build-bundle.cjs');
// The short path of `push` and `pull` (builder/cli/registry-fast.ts).
await bundle('registry-fast.js', 'registry-bundle.cjs');
await bundle('entry.js', 'entry.cjs', { loadsProgram: true });
// Caches of the previous bundle are useless now (bundle-loader.ts names them by size and mtime).
await rm(path.join(cliDir, '.code-cache'), { recursive: true, force: true });
await mkdir(path.join(cliDir, '.code-cache'), { recursive: true });
