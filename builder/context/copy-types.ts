import type { ContextHashCache } from './hash-cache.js';
import type { IgnoreMatcher } from './ignore.js';

/** Where COPY/ADD reads from: the build context or another stage's (or image's) filesystem. */
export interface CopySource {
  root: string;
  /** true for the build context: apply ignore, refuse escapes, files become 0:0 unless --chown. */
  isContext: boolean;
  ignore?: IgnoreMatcher;
  /** Content hashes kept between builds (the context's; see hash-cache.ts), consulted when digesting. */
  hashes?: ContextHashCache;
}

/** One COPY/ADD instruction, with names already resolved by the executor. */
export interface CopyOptions {
  /** As written in the Dockerfile, relative to the source root (a leading `/` means the root); Go filepath.Match wildcards. */
  sources: string[];
  /** Absolute path inside the image; a trailing slash is significant. */
  dest: string;
  chown?: { uid: number; gid: number };
  /** From --chmod: octal bits that replace the permission bits (setuid/setgid/sticky kept), or a symbolic mode applied to each file's own. */
  chmod?: number | string;
  /** ADD: local tar archives (plain, gzip, bzip2, xz, detected by content) are extracted into dest. */
  add: boolean;
  /** ADD only: false keeps archives as files (`ADD --unpack=false`); undefined/true extracts them. */
  unpack?: boolean;
  /** COPY --exclude patterns (dockerignore syntax). */
  exclude: string[];
  /** COPY --parents: keep each source's relative parent dirs under dest. */
  parents: boolean;
  /** Heredoc sources: a source named `name` is a file with `content`, mode 0644. */
  inline?: { name: string; content: string }[];
}
