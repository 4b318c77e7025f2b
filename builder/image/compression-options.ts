/**
 * What `--output …,compression=…` asks of the layers, in BuildKit's names. Kept apart from the converter
 * (layer-compression.ts) so parsing flags does not load zlib or spawn anything.
 */
import { BuildError } from '../errors.js';

/** `compression=uncompressed|gzip|zstd`. */
export type LayerCompressionType = 'uncompressed' | 'gzip' | 'zstd';
export const COMPRESSION_TYPES: readonly LayerCompressionType[] = ['uncompressed', 'gzip', 'zstd'];

export interface LayerCompression {
  type: LayerCompressionType;
  /** `compression-level=N`: gzip 0-9, zstd 1-22; unset = the build's gzip level, zstd 3. */
  level?: number;
  /** `force-compression=true`: re-encode base-image layers too. */
  force?: boolean;
}

/** BuildKit's default zstd level (zstd's own default). */
export const DEFAULT_ZSTD_LEVEL = 3;

/** Checks a level for a type (a bad one is the user's to fix, before the build runs). */
export function checkCompressionLevel(type: LayerCompressionType, level: number): number {
  const [low, high] = type === 'zstd' ? [1, 22] : [0, 9];
  if (type === 'uncompressed') throw new BuildError('INVALID_ARGUMENT', 'compression=uncompressed takes no compression-level');
  if (!Number.isInteger(level) || level < low || level > high) {
    throw new BuildError('INVALID_ARGUMENT', `${type} compression-level must be an integer ${low}-${high}, got ${level}`);
  }
  return level;
}
