/** `builder pull`, `builder push`, `builder login`, `builder logout`. Progress on stderr, results on stdout. */
import { loadConfig } from '../config.js';
import { BuildError } from '../errors.js';
import { fullName, parseReference } from '../image/reference.js';
import { login, loginServer, logout } from '../registry/login.js';
import { pullImage } from '../registry/pull.js';
import { pushImage } from '../registry/push.js';
import { withBuildLease } from '../store/gc-lease.js';
import { Store } from '../store/store.js';
import type { TransferSink } from '../registry/transfer-report.js';
import type { GlobalOptions } from './options.js';

export interface PullFlags {
  platform?: string;
  quiet?: boolean;
}

export interface LoginFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

import { transferProgress } from './progress-mode.js';

/** The pull/push options that print progress: per-layer lines (a bar on a terminal) and notes. */
function progressOptions(quiet: boolean | undefined, requested?: string): { onProgress?: (message: string) => void; onTransfer?: TransferSink; finish(): void } {
  const view = transferProgress(quiet, requested);
  if (!view) return { finish: () => {} };
  return { onProgress: view.note, onTransfer: view.onTransfer, finish: view.finish };
}

/** Runs `task` with an AbortSignal that Ctrl-C / SIGTERM trips. */
async function withSignals<T>(task: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await task(abort.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export async function pullCommand(ref: string, flags: PullFlags, global: GlobalOptions): Promise<number> {
  // Both are a few file reads (and writes for a new store): side by side, the first request goes out sooner.
  const [store, config] = await Promise.all([Store.open(global.root), loadConfig()]);
  // The lease keeps a concurrent `builder prune` from deleting blobs before the tag names them.
  const progress = progressOptions(flags.quiet);
  try {
    await withBuildLease(store.root, () => withSignals((signal) => pullImage(store, ref, { platform: flags.platform, config, ...progress, signal })), { reapAlongside: true });
  } finally {
    progress.finish();
  }
  process.stdout.write(`${fullName(parseReference(ref))}\n`);
  return 0;
}

/** `builder push NAME[:TAG]` pushes the local image of that name to the registry the name points at. */
export async function pushCommand(source: string, destination: string | undefined, flags: { quiet?: boolean }, global: GlobalOptions): Promise<number> {
  const [store, config] = await Promise.all([Store.open(global.root), loadConfig()]);
  const progress = progressOptions(flags.quiet);
  let result;
  try {
    progress.onProgress?.(`The push refers to repository [${repositoryOf(destination ?? source)}]`);
    result = await withSignals((signal) => pushImage(store, source, destination ?? source, { config, ...progress, signal }));
  } finally {
    progress.finish();
  }
  process.stdout.write(`${result.reference}@${result.digest}\n`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function loginCommand(server: string | undefined, flags: LoginFlags): Promise<number> {
  if (flags.password !== undefined && flags.passwordStdin) throw new BuildError('INVALID_ARGUMENT', '--password and --password-stdin are mutually exclusive');
  if (!flags.username) throw new BuildError('INVALID_ARGUMENT', 'builder login needs --username (and --password or --password-stdin)');
  const password = flags.passwordStdin ? await readStdin() : flags.password;
  if (!password) throw new BuildError('INVALID_ARGUMENT', 'builder login needs a password: --password-stdin (preferred) or --password');
  if (flags.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  await login(loginServer(server), { username: flags.username, password }, await loadConfig());
  process.stdout.write('Login Succeeded\n');
  return 0;
}

export async function logoutCommand(server: string | undefined): Promise<number> {
  const removed = await logout(server);
  process.stdout.write(removed ? `Removing login credentials for ${loginServer(server)}\n` : `Not logged in to ${loginServer(server)}\n`);
  return 0;
}

/** `builder build --push`: each tag to its registry, one after another (their blobs are shared). Returns `name@digest`s. */
export async function pushTags(store: Store, tags: string[], quiet: boolean, signal?: AbortSignal, requested?: string): Promise<string[]> {
  const config = await loadConfig();
  const pushed: string[] = [];
  for (const tag of tags) {
    const progress = progressOptions(quiet, requested);
    try {
      progress.onProgress?.(`The push refers to repository [${repositoryOf(tag)}]`);
      const result = await pushImage(store, tag, tag, { config, ...progress, signal });
      pushed.push(`${result.reference}@${result.digest}`);
      progress.onProgress?.(`pushed ${result.reference}@${result.digest}`);
    } finally {
      progress.finish();
    }
  }
  return pushed;
}

/** `host/repo` of a reference, as docker's "The push refers to repository [...]" line shows it. */
function repositoryOf(ref: string): string {
  const parsed = parseReference(ref);
  return `${parsed.registry}/${parsed.repository}`;
}
