/** Query-string helpers shared by the endpoint groups, and image lookup with docker's 404. */
import { BuildError } from '../../builder/errors.js';
import type { Image } from '../../builder/image/types.js';
import type { DaemonContext } from './daemon-context.js';
import { badRequest, notFound } from './errors.js';

export type Query = Record<string, string | string[] | undefined>;

/** docker's booleans in query strings: `1`, `true`, `True`. */
export function queryBool(query: Query, name: string): boolean {
  const value = query[name];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  if (last === undefined || last === '') return false;
  if (/^(1|true)$/i.test(last)) return true;
  if (/^(0|false)$/i.test(last)) return false;
  throw badRequest(`invalid boolean for ${name}: "${last}"`);
}

export function queryString(query: Query, name: string): string | undefined {
  const value = query[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** `NAME/suffix` of a wildcard route → NAME, or undefined when it does not end in suffix. */
export function nameBefore(path: string, suffix: string): string | undefined {
  return path.endsWith(`/${suffix}`) ? path.slice(0, -suffix.length - 1) : undefined;
}

export async function resolveImage(ctx: DaemonContext, name: string): Promise<Image> {
  let image: Image | undefined;
  try {
    image = await ctx.store.resolve(name);
  } catch (err) {
    // An unparsable name is simply not an image we have, as dockerd answers.
    if (!(err instanceof BuildError && err.code === 'INVALID_REFERENCE' && !/ambiguous/.test(err.message))) throw err;
  }
  if (!image) throw notFound(`No such image: ${familiarWithTag(name)}`);
  return image;
}

/** dockerd names a missing image with its default tag (`No such image: busybox:latest`); ids and digests stay as given. */
function familiarWithTag(name: string): string {
  if (name.includes('@') || /^(sha256:)?[0-9a-f]{64}$/.test(name) || name.startsWith('sha256:')) return name;
  const lastPart = name.slice(name.lastIndexOf('/') + 1);
  return lastPart.includes(':') ? name : `${name}:latest`;
}

