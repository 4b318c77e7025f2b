/**
 * Bundles the farm page (web/src → dist/web/app.js, web/app.css → dist/web/app.css) with esbuild: one
 * file, no CDN, nothing fetched at run time but the API. Run by `npm run build` after tsc.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = path.join(repo, 'dist', 'web');
await mkdir(out, { recursive: true });
await build({
  entryPoints: [path.join(repo, 'web', 'src', 'main.ts')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outfile: path.join(out, 'app.js'),
  logLevel: 'warning',
});
await copyFile(path.join(repo, 'web', 'app.css'), path.join(out, 'app.css'));
