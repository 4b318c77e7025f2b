import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from './errors.js';
import { checkGitUrl, DEFAULT_GIT_POLICY, gitPolicyFromConfig, type GitPolicy } from './git-policy.js';

function refusal(url: string, policy: GitPolicy): string {
  try {
    checkGitUrl(url, policy);
  } catch (err) {
    assert.ok(err instanceof BuildError, `not a BuildError: ${String(err)}`);
    assert.equal(err.code, 'INVALID_ARGUMENT');
    return err.message;
  }
  return 'allowed';
}

describe('git-policy', () => {
  it('allows https and ssh by default and refuses file://, git://, http:// and odd transports', () => {
    const table: [string, RegExp][] = [
      ['https://github.com/org/app.git', /^allowed$/],
      ['ssh://git@github.com/org/app.git', /^allowed$/],
      ['git@github.com:org/app.git', /^allowed$/],
      ['file:///srv/git/app.git', /file scheme is not enabled/],
      ['file:///root/.ssh', /file scheme is not enabled/],
      ['git://example.com/app.git', /git scheme is not enabled/],
      ['http://example.com/app.git', /http scheme is not enabled/],
      ['ext::sh -c touch% /tmp/pwned', /whitespace/],
      ['ext::sh', /remote helper/],
      ['fd::17', /remote helper/],
      ['ssh://-oProxyCommand=touch%20x/repo', /cannot start with "-"/],
      ['-oProxyCommand=x@host:repo', /starts with "-"/],
      ['git@-oProxyCommand=x:repo', /cannot start with "-"/],
      ['ssh://-x@host/repo', /cannot start with "-"/],
      ['/srv/git/app.git', /want https/],
      ['https://', /no host|not a valid URL/],
    ];
    for (const [url, expected] of table) assert.match(refusal(url, DEFAULT_GIT_POLICY), expected, url);
  });

  it('limits hosts to [git] hosts (exact or *.suffix)', () => {
    const policy = gitPolicyFromConfig({ hosts: ['github.com', '*.corp.example'] });
    assert.equal(refusal('https://github.com/a/b.git', policy), 'allowed');
    assert.equal(refusal('https://git.corp.example/a.git', policy), 'allowed');
    assert.match(refusal('https://corp.example.evil.com/a.git', policy), /not in \[git\] hosts/);
    assert.match(refusal('https://127.0.0.1:6379/a.git', policy), /not in \[git\] hosts/);
  });

  it('allows file:// only below [git] file_paths, after .. and symlinks', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'git-policy-'));
    try {
      mkdirSync(path.join(dir, 'repos/app'), { recursive: true });
      symlinkSync('/etc', path.join(dir, 'repos/escape'));
      const policy = gitPolicyFromConfig({ schemes: ['https', 'file'], file_paths: [path.join(dir, 'repos')] });
      assert.equal(refusal(`file://${dir}/repos/app`, policy), 'allowed');
      assert.match(refusal(`file://${dir}/repos/../other`, policy), /file_paths/);
      assert.match(refusal(`file://${dir}/repos/escape`, policy), /file_paths/);
      assert.match(refusal('file://otherhost/srv/x', policy), /cannot name a host/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad [git] section with a message that names the key', () => {
    assert.throws(() => gitPolicyFromConfig({ schemes: ['ftp'] }), /unknown scheme "ftp"/);
    assert.throws(() => gitPolicyFromConfig({ file_paths: ['relative'] }), /absolute path/);
    assert.throws(() => gitPolicyFromConfig({ hosts: 'github.com' }), /list of strings/);
  });
});
