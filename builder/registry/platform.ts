/** `--platform os/arch[/variant]` and choosing a manifest from an index by it. */
import { BuildError } from '../errors.js';
import type { Descriptor, ImageIndex, Platform } from '../image/types.js';

export const DEFAULT_PLATFORM = 'linux/amd64';

export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, extra] = text.toLowerCase().split('/');
  if (!os || !architecture || extra !== undefined) {
    throw new BuildError('INVALID_ARGUMENT', `invalid platform "${text}": expected os/arch or os/arch/variant, e.g. linux/amd64`);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** The index entry for `wanted`; a missing variant matches any (arm64 images often say v8, or nothing). */
export function chooseManifest(index: ImageIndex, wanted: Platform, where: string): Descriptor {
  const candidates = index.manifests.filter((m) => m.platform?.os === wanted.os && m.platform.architecture === wanted.architecture);
  const chosen = wanted.variant ? candidates.find((m) => m.platform?.variant === wanted.variant) : candidates.find((m) => !m.platform?.variant) ?? candidates[0];
  if (!chosen) {
    const available = index.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'unknown')).join(', ');
    throw new BuildError('IMAGE_NOT_FOUND', `${where} has no ${formatPlatform(wanted)} image (available: ${available || 'none'})`);
  }
  return chosen;
}
