import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A temp dir for one test, removed by `cleanup`. Test helper only. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `builder-ctx-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes files from a spec: `'x/y': 'text'`, `'d/': null` (dir), `'l': { link: 'target' }`. */
export function writeTree(root: string, spec: Record<string, string | null | { link: string }>): void {
  for (const [rel, value] of Object.entries(spec)) {
    const full = path.join(root, rel);
    if (value === null) {
      mkdirSync(full, { recursive: true });
      continue;
    }
    mkdirSync(path.dirname(full), { recursive: true });
    if (typeof value === 'string') writeFileSync(full, value);
    else symlinkSync(value.link, full);
  }
}

/** The standard context used by the rule table: owners and modes a real checkout could have. */
export function makeContext(root: string): void {
  writeTree(root, {
    'a.txt': 'a\n',
    'b.md': 'b\n',
    'dir/b.txt': 'b\n',
    'dir/notes.md': 'notes\n',
    'dir/sub/c.txt': 'c\n',
    'dir/link': { link: 'b.txt' },
    'dirlink': { link: 'dir' },
    'pw': { link: '/etc/passwd' },
    'out': { link: '../../outside' },
    'empty/': null,
  });
  chownSync(path.join(root, 'a.txt'), 1234, 5678);
  chownSync(path.join(root, 'dir'), 1234, 5678);
  chmodSync(path.join(root, 'dir/b.txt'), 0o4755);
  utimesSync(path.join(root, 'dir/b.txt'), new Date(1_000_000_000_000), new Date(1_000_000_000_000));
}

/** Makes plain/gzip/bzip2/xz tars of a small tree owned 1000:1001 with GNU tar. */
export function makeArchives(root: string): void {
  const tree = path.join(root, '.tree');
  writeTree(tree, { f: 'hi\n', 'd/z': 'z\n' });
  execFileSync('tar', ['--owner=1000', '--group=1001', '-cf', path.join(root, 'plain.tar'), '-C', tree, '.']);
  execFileSync('sh', ['-c', 'gzip -c plain.tar > a.tgz && bzip2 -c plain.tar > a.tbz && xz -c plain.tar > a.txz && echo x | gzip -c > only.gz', ], { cwd: root });
  writeFileSync(path.join(root, 'fake.tar.gz'), 'not an archive\n');
  rmSync(tree, { recursive: true });
}
