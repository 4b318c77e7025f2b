/**
 * Property tests of the .dockerignore matcher and the in-root path resolver: any pattern compiles and matches or
 * fails with a BuildError; any path resolves inside the root, whatever links the root holds; bounded time.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { BuildError } from '../../builder/errors.js';
import { createMatcher } from '../../builder/context/ignore.js';
import { resolveInRoot } from '../../builder/context/root-path.js';
import { cleanEntryPath } from '../../builder/layer/safe-path.js';
import { cpuMark, cpuMsSince } from '../helpers/cpu-time.js';

const PATTERN_PIECES = ['*', '**', '?', '[', ']', '[!a]', '[z-a]', '[a-', '\\', '!', '/', '.', '..', 'a', 'b', '#', ' ', '{', '}', '(', ')', '+', '|', '^', '$'];
const pattern = fc.array(fc.constantFrom(...PATTERN_PIECES), { maxLength: 12 }).map((p) => p.join(''));
const relPath = fc.array(fc.constantFrom('a', 'b', '.', '..', '', 'c.txt', '*', '[x]', ' '), { maxLength: 8 }).map((p) => p.join('/'));

function userErrorOnly(err: unknown, what: string): void {
  if (!(err instanceof BuildError) || err.code === 'INTERNAL') throw new Error(`${what}: not a user error: ${String(err)}`);
}

describe('property: .dockerignore matcher and path confinement', function () {
  this.timeout(60_000);
  let root = '';
  let count = 0;

  before(function () {
    root = mkdtempSync(path.join(os.tmpdir(), 'property-root-'));
    mkdirSync(path.join(root, 'a/b'), { recursive: true });
    writeFileSync(path.join(root, 'a/b/c.txt'), 'c');
    // Links of every kind that try to leave the root.
    symlinkSync('/', path.join(root, 'slash'));
    symlinkSync('../../../../..', path.join(root, 'up'));
    symlinkSync('/etc/passwd', path.join(root, 'a/passwd'));
    symlinkSync('loop2', path.join(root, 'loop1'));
    symlinkSync('loop1', path.join(root, 'loop2'));
    symlinkSync('../a', path.join(root, 'a/b/back'));
    symlinkSync('b/../../up/x', path.join(root, 'a/deep'));
  });
  after(function () {
    console.log(`      property inputs tried: ${count}`);
    rmSync(root, { recursive: true, force: true });
  });

  it('any ignore pattern compiles and matches any path, or fails with a BuildError', function () {
    fc.assert(fc.property(fc.array(pattern, { maxLength: 6 }), relPath, (patterns, target) => {
      count++;
      const started = cpuMark();
      try {
        createMatcher(patterns)(target);
      } catch (err) {
        userErrorOnly(err, JSON.stringify(patterns));
      }
      assert.ok(cpuMsSince(started) < 500, `matching cost ${cpuMsSince(started)} ms of CPU`);
    }), { numRuns: 2000, seed: 1414 });
  });

  it('resolveInRoot never leaves the root, and fails only with a BuildError', async function () {
    const piece = fc.constantFrom('slash', 'up', 'a', 'b', 'passwd', 'loop1', 'back', 'deep', '..', '.', 'etc', 'x', '');
    await fc.assert(fc.asyncProperty(fc.array(piece, { maxLength: 10 }), fc.boolean(), async (parts, absolute) => {
      count++;
      const target = `${absolute ? '/' : ''}${parts.join('/')}`;
      try {
        const resolved = await resolveInRoot(root, target);
        assert.ok(resolved === root || resolved.startsWith(`${root}/`), `${target} resolved to ${resolved}`);
      } catch (err) {
        userErrorOnly(err, target);
      }
    }), { numRuns: 1500, seed: 1414 });
  });

  it('cleanEntryPath gives a relative path without .. or fails with a BuildError', function () {
    fc.assert(fc.property(fc.array(fc.constantFrom('a', '..', '.', '', '/', 'b\0', 'c'), { maxLength: 10 }).map((p) => p.join('/')), (name) => {
      count++;
      try {
        const clean = cleanEntryPath(name);
        assert.ok(!clean.startsWith('/') && !clean.split('/').includes('..') && !clean.split('/').includes('.'), clean);
      } catch (err) {
        userErrorOnly(err, name);
      }
    }), { numRuns: 2000, seed: 1414 });
  });
});
