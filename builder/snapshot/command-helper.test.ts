/** The shared sh helper for short commands: exit codes, output, cwd, quoting, order under concurrency, recovery. */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCommand, runCommandSplit } from './command-helper.js';

describe('snapshot/command-helper runCommand', () => {
  let dir = '';
  before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'command-helper-')); });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('returns exit codes and output (stdout and stderr), in the given cwd', async () => {
    assert.deepEqual(await runCommand('true', []), { code: 0, output: '' });
    assert.equal((await runCommand('false', [])).code, 1);
    assert.deepEqual(await runCommand('sh', ['-c', 'echo out; echo err >&2; exit 3']), { code: 3, output: 'out\nerr' });
    assert.deepEqual(await runCommand('pwd', [], dir), { code: 0, output: await import('node:fs/promises').then((fs) => fs.realpath(dir)) });
  });

  it('passes arguments verbatim: spaces, quotes, $, backslashes, newlines, a fake marker', async () => {
    const args = ["it's", 'a "b"', '$HOME `id`', 'back\\slash', 'two\nlines', '\n@@0000 0\n', ''];
    const result = await runCommand('sh', ['-c', 'for a do printf "<%s>" "$a"; done', 'sh', ...args]);
    assert.equal(result.code, 0);
    assert.equal(result.output, args.map((arg) => `<${arg}>`).join('').trim());
  });

  it('keeps replies with their requests when many run at once, long output included', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, index) =>
      runCommand('sh', ['-c', `head -c ${index * 5000} /dev/zero | tr '\\0' x; echo; exit ${index % 7}`])));
    results.forEach((result, index) => {
      assert.equal(result.code, index % 7);
      assert.equal(result.output.length, index * 5000);
    });
  });

  it('a missing command fails (127) instead of hanging, and a missing cwd fails', async () => {
    assert.equal((await runCommand('no-such-command-here', [])).code, 127);
    assert.notEqual((await runCommand('true', [], path.join(dir, 'missing'))).code, 0);
  });

  it('a command in flight when the helper dies fails once and is not run again', async () => {
    const marks = path.join(dir, 'marks');
    const result = await runCommand('sh', ['-c', `kill -9 $PPID; echo ran >> '${marks}'; sleep 0.1`]);
    assert.equal(result.code, 1);
    assert.match(result.output, /interrupted/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await import('node:fs/promises').then((fs) => fs.readFile(marks, 'utf8')), 'ran\n');
    assert.deepEqual(await runCommand('echo', ['after']), { code: 0, output: 'after' });
  });

  it('recovers when the helper is killed between requests', async () => {
    const pids = await runCommand('sh', ['-c', 'echo $PPID']);
    process.kill(Number(pids.output), 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await runCommand('echo', ['again']), { code: 0, output: 'again' });
  });

  it('split: stdout exactly as written and apart from stderr, in order under concurrency', async () => {
    assert.deepEqual(await runCommandSplit('sh', ['-c', 'printf "a\\n\\n b "; echo err >&2; echo more >&2; exit 1']), { code: 1, stdout: 'a\n\n b ', stderr: 'err\nmore' });
    assert.deepEqual(await runCommandSplit('printf', ['%s', "no newline, 'quotes' $x"]), { code: 0, stdout: "no newline, 'quotes' $x", stderr: '' });
    assert.deepEqual(await runCommandSplit('pwd', [], dir), { code: 0, stdout: `${await import('node:fs/promises').then((fs) => fs.realpath(dir))}\n`, stderr: '' });
    const results = await Promise.all(Array.from({ length: 12 }, (_, index) =>
      index % 2 === 0
        ? runCommandSplit('sh', ['-c', `head -c ${index * 7000} /dev/zero | tr '\\0' y; echo e${index} >&2; exit ${index % 5}`])
        : runCommand('sh', ['-c', `echo plain${index}`])));
    results.forEach((result, index) => {
      if (index % 2 === 0) assert.deepEqual(result, { code: index % 5, stdout: 'y'.repeat(index * 7000), stderr: `e${index}` });
      else assert.deepEqual(result, { code: 0, output: `plain${index}` });
    });
  });

  it('split: a missing command is 127, a missing cwd fails', async () => {
    assert.equal((await runCommandSplit('no-such-command-here', [])).code, 127);
    const missing = await runCommandSplit('true', [], path.join(dir, 'missing'));
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /missing/);
  });

  it('looks the command up on the PATH of the moment, as a direct spawn does', async () => {
    assert.equal((await runCommandSplit('true', [])).code, 0);
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      assert.equal((await runCommandSplit('true', [])).code, 127);
      assert.equal((await runCommand('true', [])).code, 127);
    } finally {
      process.env.PATH = saved;
    }
    assert.equal((await runCommand('true', [])).code, 0);
  });
});
