import { statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { locateContextFile } from './context-file.js';

/** The build context directory and the Dockerfile to read, as the CLI resolves them. */
export interface ResolvedContext {
  contextDir: string;
  dockerfilePath: string;
  /** For display and error locations: relative to the context when inside it, e.g. `Dockerfile`. */
  dockerfileName: string;
}

/**
 * The default Dockerfile of a context: `Dockerfile`, or `dockerfile` when only the lower-case one exists (docker's
 * CLI, moby's remotecontext and BuildKit's dockerui all fall back to it; BuildKit's testDockerfileLowercase).
 */
export function defaultDockerfileName(contextDir: string): string {
  if (statQuiet(path.join(contextDir, 'Dockerfile'))) return 'Dockerfile';
  return statQuiet(path.join(contextDir, 'dockerfile'))?.isFile() ? 'dockerfile' : 'Dockerfile';
}

/**
 * Resolves `docker build [-f dockerfile] context`: the context must be a directory; `-f` is relative to the
 * current directory (falling back to the context, as older Docker did); the default is `<context>/Dockerfile`
 * (or `dockerfile`, see defaultDockerfileName), or `<context>/Containerfile` when there is neither (buildah/podman's
 * name; with both, BuildKit's Dockerfile wins).
 */
export async function resolveContext(contextArg: string, dockerfileArg?: string): Promise<ResolvedContext> {
  const contextDir = path.resolve(contextArg);
  const contextStat = statQuiet(contextDir);
  if (!contextStat) {
    throw new BuildError('INVALID_ARGUMENT', `unable to prepare context: path "${contextArg}" not found`);
  }
  if (!contextStat.isDirectory()) {
    throw new BuildError('INVALID_ARGUMENT', `unable to prepare context: context must be a directory: ${contextDir}`);
  }
  let dockerfilePath: string;
  if (!dockerfileArg) {
    dockerfilePath = path.join(contextDir, defaultDockerfileName(contextDir));
    const containerfile = path.join(contextDir, 'Containerfile');
    if (!statQuiet(await locateContextFile(contextDir, dockerfilePath)) && statQuiet(await locateContextFile(contextDir, containerfile))) {
      dockerfilePath = containerfile;
    }
  } else if (path.isAbsolute(dockerfileArg)) {
    dockerfilePath = dockerfileArg;
  } else {
    dockerfilePath = path.resolve(dockerfileArg);
    if (!(await isFile(dockerfilePath)) && (await isFile(path.join(contextDir, dockerfileArg)))) {
      dockerfilePath = path.join(contextDir, dockerfileArg);
    }
  }
  // Inside the context the Dockerfile is resolved there (a link to /x means <context>/x), as the build reads it.
  const located = await locateContextFile(contextDir, dockerfilePath);
  const dockerfileStat = statQuiet(located);
  if (!dockerfileStat) {
    // A path through a file (`-f some-file/Dockerfile`) is ENOTDIR, as open(2) tells docker.
    const reason = statErrorCode(located) === 'ENOTDIR' ? 'not a directory' : 'no such file or directory';
    throw new BuildError('INVALID_ARGUMENT', `failed to read Dockerfile: open ${dockerfilePath}: ${reason}`);
  }
  if (dockerfileStat.isDirectory()) {
    throw new BuildError('INVALID_ARGUMENT', `failed to read Dockerfile: read ${dockerfilePath}: is a directory`);
  }
  const relative = path.relative(contextDir, dockerfilePath);
  const inside = relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
  return { contextDir, dockerfilePath, dockerfileName: inside ? relative : dockerfilePath };
}

async function isFile(candidate: string): Promise<boolean> {
  return statQuiet(candidate)?.isFile() === true;
}

function statErrorCode(file: string): string | undefined {
  try {
    statSync(file);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

/** stat(2) directly: every build resolves its context and Dockerfile, a round trip per call was most of it. */
function statQuiet(file: string): Stats | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
