import { Containers } from '../containers/service.js';
import { BuildError } from '../errors.js';
import { inspectImages } from './images.js';
import type { GlobalOptions } from './options.js';

/**
 * `inspect` as docker's: each name is looked up as a container, then as an image (`--type` narrows it);
 * one JSON array; a name that is neither is an error after the others were printed.
 */
export async function inspectAny(names: string[], global: GlobalOptions, type?: string, format?: string): Promise<number> {
  if (type !== undefined && type !== 'container' && type !== 'image') throw new BuildError('INVALID_ARGUMENT', `"${type}" is not a valid value for --type`);
  const service = await Containers.open(global.root);
  const out: unknown[] = [];
  const missing: string[] = [];
  for (const name of names) {
    if (type !== 'image') {
      const container = await service.inspect(name).catch((err: unknown) => {
        if (err instanceof BuildError && err.code === 'CONTAINER_NOT_FOUND') return undefined;
        throw err;
      });
      if (container) { out.push(container); continue; }
    }
    if (type !== 'container') {
      const image = await inspectImages([name], global).catch(() => undefined);
      if (image) { out.push(...image); continue; }
    }
    missing.push(name);
  }
  if (format !== undefined) process.stdout.write(out.map((object) => `${renderTemplate(format, object)}\n`).join(''));
  else process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
  for (const name of missing) process.stderr.write(`ERROR: No such ${type ?? 'object'}: ${name}\n`);
  if (missing.length > 0 && out.length === 0 && names.length === 1) return 1;
  return missing.length > 0 ? 1 : 0;
}



/** `--format`: docker's common Go-template forms, `{{.State.Status}}`, `{{json .Config}}`, `{{index .Config.Labels "k"}}`. */
export function renderTemplate(format: string, object: unknown): string {
  const walk = (path: string): unknown => path.split('.').filter(Boolean).reduce<unknown>((value, key) =>
    (value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined), object);
  const show = (value: unknown): string => (value === undefined || value === null ? '<no value>'
    : typeof value === 'object' ? (Array.isArray(value) ? `[${value.map(show).join(' ')}]` : `map[${Object.entries(value).map(([k, v]) => `${k}:${show(v)}`).join(' ')}]`) : String(value));
  return format.replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\{\{\s*(.*?)\s*\}\}/g, (_match, expression: string) => {
    const json = /^json\s+(\.[\w.]*)$/.exec(expression);
    if (json) return JSON.stringify(walk(json[1]!) ?? null);
    const index = /^index\s+(\.[\w.]*)\s+"([^"]*)"$/.exec(expression);
    if (index) return show((walk(index[1]!) as Record<string, unknown> | undefined)?.[index[2]!]);
    if (/^\.[\w.]*$/.test(expression)) return show(walk(expression));
    throw new BuildError('INVALID_ARGUMENT', `template: unsupported expression "{{${expression}}}" (builder supports .Field.Path, json .Field, index .Map "key")`);
  });
}
