import { strict as assert } from 'node:assert';
import { parseGitSource } from './add-git.js';
import { isHttpSource, parseChecksum, urlFileName } from './add-remote.js';

describe('ADD remote source parsing', function () {
  it('tells git repositories from plain URLs, as BuildKit does', function () {
    const cases: [string, ReturnType<typeof parseGitSource>][] = [
      ['https://example.com/org/repo.git', { url: 'https://example.com/org/repo.git', ref: undefined, subdir: undefined }],
      ['https://example.com/org/repo.git#v1.2:docs/api/', { url: 'https://example.com/org/repo.git', ref: 'v1.2', subdir: 'docs/api' }],
      ['git@github.com:org/repo.git#main', { url: 'git@github.com:org/repo.git', ref: 'main', subdir: undefined }],
      ['git://host/repo#:sub', { url: 'git://host/repo', ref: undefined, subdir: 'sub' }],
      ['file:///srv/repo.git#abc:../../etc', { url: 'file:///srv/repo.git', ref: 'abc', subdir: 'etc' }],
      ['https://example.com/file.tar.gz', undefined],
      ['http://example.com/repo.git.txt', undefined],
      ['app/src', undefined],
    ];
    for (const [source, expected] of cases) assert.deepEqual(parseGitSource(source), expected, source);
    assert.throws(() => parseGitSource('https://h/r.git#--upload-pack=x'), /invalid git ref/);
    assert.equal(isHttpSource('https://example.com/a.txt'), true);
    assert.equal(isHttpSource('https://example.com/a.git'), false);
  });

  it('names downloads after the last path segment, else __unnamed__', function () {
    assert.equal(urlFileName('https://h/dir/file.tar.gz?x=1'), 'file.tar.gz');
    assert.equal(urlFileName('https://h/dir/'), 'dir');
    assert.equal(urlFileName('https://h/'), '__unnamed__');
    assert.equal(urlFileName('https://h/a%20b'), 'a b');
  });

  it('accepts sha256/384/512 checksums of the right length only', function () {
    assert.deepEqual(parseChecksum(`sha256:${'a'.repeat(64)}`), { algorithm: 'sha256', hex: 'a'.repeat(64) });
    assert.equal(parseChecksum(`sha512:${'0'.repeat(128)}`).algorithm, 'sha512');
    assert.throws(() => parseChecksum(`sha256:${'a'.repeat(63)}`), /invalid checksum/);
    assert.throws(() => parseChecksum('md5:abc'), /invalid checksum/);
  });
});
