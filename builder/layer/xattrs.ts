/**
 * Extended attributes in bulk. Node has no xattr API, so we use one `getfattr -R` / `setfattr --restore` process
 * per tree instead of one process per file (20,000 files must stay fast); a small tree is read by the mount helper
 * (snapshot/mount-syscall.ts), which makes the xattr syscalls itself.
 * getfattr runs through the shared sh helper (snapshot/command-helper.ts): every layer and direct COPY reads
 * xattrs once, and a spawn from this process blocks the event loop for longer than getfattr takes on a small tree.
 */
import { spawn } from 'node:child_process';
import { BuildError } from '../errors.js';
import { runCommandSplit } from '../snapshot/command-helper.js';
import { xattrDumpSyscall, xattrsOfSyscall } from '../snapshot/mount-syscall.js';

/** relative path (no leading "./") → xattr name → raw value */
export type XattrTree = Map<string, Map<string, Buffer>>;

/** getfattr's dump (stdout) through the sh helper; the same errors as a direct run. */
async function getfattr(args: string[], cwd: string): Promise<string> {
  const { code, stdout, stderr } = await runCommandSplit('getfattr', args, cwd);
  if (code === 0) return stdout;
  // getfattr itself exits 0 or 1; 127 is sh's (or spawn's) "not found".
  if (code === 127) throw new BuildError('SANDBOX_FAILED', `cannot run getfattr (install the "attr" package): ${stderr}`);
  throw new BuildError('INTERNAL', `getfattr failed in ${cwd} (exit ${code}): ${stderr.slice(0, 400)}`);
}

/** setfattr needs stdin (the restore text), which the sh helper does not carry: a direct spawn. */
function run(command: string, args: string[], cwd: string, stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) =>
      reject(new BuildError('SANDBOX_FAILED', `cannot run ${command} (install the "attr" package): ${error.message}`, { cause: error })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new BuildError('INTERNAL', `${command} failed in ${cwd} (exit ${code}): ${Buffer.concat(err).toString('utf8').slice(0, 400)}`));
    });
    if (child.stdin) {
      // A failing child closes its stdin early; its exit code carries the error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin);
    }
  });
}

/** getfattr escapes backslash, newline and other control bytes as \ooo. */
function unescapeName(text: string): string {
  if (!text.includes('\\')) return text;
  const bytes: number[] = [];
  const raw = Buffer.from(text, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.toString('ascii', i + 1, i + 4))) {
      bytes.push(parseInt(raw.toString('ascii', i + 1, i + 4), 8));
      i += 3;
    } else bytes.push(raw[i]!);
  }
  return Buffer.from(bytes).toString('utf8');
}

function escapeName(name: string): string {
  const raw = Buffer.from(name, 'utf8');
  let out = '';
  let plain = 0;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte === 0x5c || byte < 0x20 || byte === 0x7f) {
      out += raw.toString('utf8', plain, i) + '\\' + byte.toString(8).padStart(3, '0');
      plain = i + 1;
    }
  }
  return out + raw.toString('utf8', plain);
}

/**
 * Trees up to this many entries (a step's layer, usually a handful) are read by the mount helper's llistxattr and
 * lgetxattr calls, with no process at all; bigger ones by getfattr, whose C walk beats perl's.
 */
export const HELPER_ENTRY_LIMIT = 200;

/**
 * All xattrs (every namespace, symlinks not followed) of every file under `dir`, keyed by relative path. Through
 * the mount helper when it runs (same dump format as getfattr's), else, or for a big tree, `getfattr -R`.
 */
export async function readXattrTree(dir: string, options: { via?: 'helper' | 'getfattr' } = {}): Promise<XattrTree> {
  const key = (path: string): string => (path === '.' ? '' : path.replace(/^\.\//, ''));
  if (options.via !== 'getfattr') {
    const helped = await xattrDumpSyscall(dir, HELPER_ENTRY_LIMIT);
    if (helped?.errno === 0) return parseDump(helped.message, key);
    if (options.via === 'helper') throw new BuildError('INTERNAL', `reading the xattrs under ${dir} failed: ${helped?.message ?? 'no mount helper'}`);
  }
  // No helper, a big tree, or an error: getfattr reads it again and reports what it finds in its own words.
  const dump = await getfattr(['-R', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '.'], dir);
  return parseDump(dump, key);
}

/** The xattrs of the given files themselves (absolute paths, symlinks not followed), keyed by path; one process. */
export async function readXattrsOf(paths: string[], options: { via?: 'helper' | 'getfattr' } = {}): Promise<XattrTree> {
  if (paths.length === 0) return new Map();
  if (options.via !== 'getfattr') {
    const helped = await xattrsOfSyscall(paths);
    if (helped?.errno === 0) return parseDump(helped.message, (path) => path);
    if (options.via === 'helper') throw new BuildError('INTERNAL', `reading the xattrs of ${paths.join(', ')} failed: ${helped?.message ?? 'no mount helper'}`);
  }
  return parseDump(await getfattr(['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', ...paths], '/'), (path) => path);
}

function parseDump(dump: string, key: (path: string) => string): XattrTree {
  const tree: XattrTree = new Map();
  let current: Map<string, Buffer> | undefined;
  for (const line of dump.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = new Map();
      tree.set(key(unescapeName(line.slice('# file: '.length))), current);
    } else if (current && line !== '') {
      const equals = line.indexOf('=');
      if (equals === -1) continue;
      const value = line.slice(equals + 1);
      current.set(line.slice(0, equals), value.startsWith('0x') ? Buffer.from(value.slice(2), 'hex') : Buffer.from(value.replace(/^"|"$/g, '')));
    }
  }
  return tree;
}

/** Sets xattrs on many files at once (symlinks themselves, never their targets). Paths are relative to `dir`. */
export async function restoreXattrs(dir: string, entries: Iterable<[string, Map<string, Buffer>]>): Promise<void> {
  const lines: string[] = [];
  for (const [path, xattrs] of entries) {
    if (xattrs.size === 0) continue;
    lines.push(`# file: ./${escapeName(path)}`);
    for (const [name, value] of xattrs) lines.push(`${name}=0x${value.toString('hex')}`);
    lines.push('');
  }
  if (lines.length === 0) return;
  await run('setfattr', ['-h', '--restore=-'], dir, lines.join('\n') + '\n');
}
