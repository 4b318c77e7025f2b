/**
 * Reading the Dockerfile a build names: resolved inside the context like a COPY source (context/context-file.ts),
 * a regular file, and no larger than the cap. The cap exists because dockerfile-ast builds every argument one
 * character at a time (`escapedArg += char` in getRawArguments, run at parse time by its heredoc check): V8 keeps a
 * cons-string node per character plus Range objects per word, so one long logical line costs ~150–190× its size in
 * memory (10 MB → ~1.9 GB). parse.ts also refuses physical lines over BuildKit's 64 KiB.
 */
import { BuildError } from '../errors.js';
import { readContextFile } from '../context/context-file.js';

/** Default cap on a Dockerfile's size; `BUILDER_MAX_DOCKERFILE_BYTES` changes it. Real Dockerfiles are a few KiB. */
export const DEFAULT_MAX_DOCKERFILE_BYTES = 2 * 1024 * 1024;

export function maxDockerfileBytes(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.BUILDER_MAX_DOCKERFILE_BYTES;
  if (value === undefined || value === '') return DEFAULT_MAX_DOCKERFILE_BYTES;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new BuildError('INVALID_ARGUMENT', `invalid BUILDER_MAX_DOCKERFILE_BYTES "${value}": want a positive number of bytes`);
  }
  return Number(value);
}

export interface DockerfileText {
  /** The file actually read. */
  path: string;
  content: string;
}

/**
 * Reads `dockerfilePath` for a build of `contextDir`. Inside the context it is resolved there (a link out of the
 * context names a file inside it, which is then usually missing); an explicit path outside the context (`-f
 * /elsewhere/Dockerfile` on the CLI) is read as given, as docker does.
 */
export async function readDockerfile(contextDir: string, dockerfilePath: string, displayName: string, maxBytes = maxDockerfileBytes()): Promise<DockerfileText> {
  const file = await readContextFile(contextDir, dockerfilePath, { what: 'Dockerfile', maxBytes, tooLargeCode: 'DOCKERFILE_INVALID' });
  if (!file) {
    throw new BuildError('INVALID_ARGUMENT', `failed to read Dockerfile: open ${displayName}: no such file or directory in the build context`);
  }
  if (file.content.includes(0)) {
    // A text file never holds NUL; echoing a binary (or /proc) file's bytes in an error helps nobody.
    throw new BuildError('DOCKERFILE_INVALID', `failed to read Dockerfile ${displayName}: it is not a text file (it contains NUL bytes)`);
  }
  return { path: file.path, content: file.content.toString('utf8') };
}
