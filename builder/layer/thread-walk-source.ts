/**
 * The reader thread's side of a tree walk (thread-walk.ts has the other), as plain CommonJS source that
 * file-reader.ts evaluates in the worker beside its batch reads. The same order as tree-walk.ts `walkTree`:
 * pre-order, siblings sorted by the name they get in the tar (a whiteout `x` sorts as `.wh.x`), each directory's
 * children lstat'd when the walk reaches it. Per batch of up to BATCH_ENTRIES entries (or BATCH_BYTES of contents)
 * one message: the paths joined by NUL, ten lstat fields per entry in a Float64Array, and the contents of its
 * small files (regular, one link, 1 byte to INLINE_FILE) back to back in one transferred buffer. Credits bound
 * what waits for the writer: the writer counts the batches it has taken in shared memory (and posts a message to
 * wake a walk that stopped), so this thread sees at any moment how many wait. That also balances the two
 * threads: while fewer than half the credits wait (the writer keeps up), a batch goes without contents and the
 * writer reads its small files itself; from half on, this thread reads them. (Credits as messages alone could not
 * tell: a message is only seen once the walk has stopped, always with every credit spent.)
 *
 * lstat goes through the fs binding when it answers as expected (one Float64Array, no Stats with four Dates per
 * entry: measured 80 → 70 ms per 20,000 entries warm, 140 → 108 ms cold); an error, or a binding of another
 * shape, goes through lstatSync, so errors read as lstatSync's.
 */
/** Files up to this size are read into the tar's chunks (and so by the reader thread, when it is used). */
export const INLINE_FILE = 256 * 1024;
/** Entries per batch message at most. */
export const BATCH_ENTRIES = 256;
/** Contents per batch at most (a batch ends at the first small file that reaches it). */
export const BATCH_BYTES = 1024 * 1024;
/** Fields per entry in a batch's Float64Array, in EntryStat's constructor order. */
export const STAT_FIELDS = 10;

export const WALK_SOURCE = `
const { lstatSync, readdirSync } = require('node:fs');
const INLINE_FILE = ${INLINE_FILE};
const BATCH_ENTRIES = ${BATCH_ENTRIES};
const BATCH_BYTES = ${BATCH_BYTES};
const STAT_FIELDS = ${STAT_FIELDS};
const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFCHR = 0o020000;
const fsBinding = (() => {
  try {
    const binding = process.binding('fs');
    const values = binding.lstat('/', false, undefined, true);
    if (values instanceof Float64Array && values.length >= 16 && (values[1] & S_IFMT) === S_IFDIR) return binding;
  } catch {}
  return undefined;
})();
/** [mode, uid, gid, size, mtimeMs, ctimeMs, nlink, dev, ino, rdev], the ms as Node's Stats computes them. */
function lstatFields(path) {
  if (fsBinding) {
    let v;
    try {
      v = fsBinding.lstat(path, false, undefined, true);
    } catch {
      v = undefined;
    }
    if (v instanceof Float64Array) return [v[1], v[3], v[4], v[8], v[12] * 1e3 + v[13] / 1e6, v[14] * 1e3 + v[15] / 1e6, v[2], v[0], v[7], v[5]];
  }
  const s = lstatSync(path);
  return [s.mode, s.uid, s.gid, s.size, s.mtimeMs, s.ctimeMs, s.nlink, s.dev, s.ino, s.rdev];
}
const walks = new Map();
function expand(walk, relDir) {
  const dir = relDir === '' ? walk.root : walk.root + '/' + relDir;
  const children = readdirSync(dir).map((name) => {
    const fields = lstatFields(dir + '/' + name);
    const whiteout = (fields[0] & S_IFMT) === S_IFCHR && fields[9] === 0;
    return { name, fields, key: whiteout ? '.wh.' + name : name };
  });
  children.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let index = children.length - 1; index >= 0; index--) {
    const { name, fields } = children[index];
    walk.stack.push({ rel: relDir === '' ? name : relDir + '/' + name, fields });
  }
}
function readInto(path, buffer, at, size) {
  const fd = openArchivedSync(path);
  let copied = 0;
  try {
    for (let read = -1; copied < size && read !== 0; copied += read) read = readSync(fd, buffer, at + copied, size - copied, copied);
  } finally {
    closeSync(fd);
  }
  if (copied !== size) throw Object.assign(new Error('changed size while it was being archived'), { archivedPath: path });
}
/** One batch from the walk, or throws what the walk or a read met. */
function nextBatch(walk, read) {
  const rels = [];
  const stats = new Float64Array(BATCH_ENTRIES * STAT_FIELDS);
  let buffer;
  let total = 0;
  while (rels.length < BATCH_ENTRIES && total < BATCH_BYTES) {
    if (!walk.started) {
      walk.started = true;
      expand(walk, '');
    }
    const entry = walk.stack.pop();
    if (!entry) {
      walk.done = true;
      break;
    }
    const f = entry.fields;
    stats.set(f, rels.length * STAT_FIELDS);
    rels.push(entry.rel);
    const type = f[0] & S_IFMT;
    if (read && type === S_IFREG && f[6] === 1 && f[3] > 0 && f[3] <= INLINE_FILE) {
      buffer ??= Buffer.allocUnsafe(BATCH_BYTES + INLINE_FILE);
      readInto(walk.root + '/' + entry.rel, buffer, total, f[3]);
      total += f[3];
    } else if (type === S_IFDIR) {
      expand(walk, entry.rel);
    }
  }
  return { rels, stats: stats.subarray(0, rels.length * STAT_FIELDS), buffer, total };
}
function pump(walk) {
  while (walk.sent - Atomics.load(walk.taken, 0) < walk.credits && !walk.done && walks.get(walk.id) === walk) {
    let batch;
    try {
      // Half the credits or more still unspent: the writer takes batches as fast as they come, so it reads this
      // one's small files itself and this thread walks on; fewer: the writer is the slower one, this thread reads.
      batch = nextBatch(walk, (walk.sent - Atomics.load(walk.taken, 0)) * 2 >= walk.credits);
    } catch (err) {
      walks.delete(walk.id);
      const path = err && err.archivedPath;
      parentPort.postMessage({ kind: 'walk', id: walk.id, failed: { message: String(err && err.message), code: err && err.code, path } });
      return;
    }
    walk.sent++;
    const { rels, stats, buffer, total } = batch;
    const end = walk.done;
    if (end) walks.delete(walk.id);
    const transfer = [stats.buffer];
    if (buffer) transfer.push(buffer.buffer);
    parentPort.postMessage(
      { kind: 'walk', id: walk.id, joined: rels.join('\\0'), count: rels.length, stats, buffer: buffer && buffer.buffer, offset: buffer ? buffer.byteOffset : 0, length: total, end },
      transfer,
    );
  }
}
function onWalkMessage(message) {
  if (message.kind === 'walk') {
    const walk = { id: message.id, root: message.root, credits: message.credit, taken: message.taken, sent: 0, stack: [], started: false, done: false };
    walks.set(walk.id, walk);
    pump(walk);
  } else if (message.kind === 'credit') {
    const walk = walks.get(message.id);
    if (walk) pump(walk);
  } else if (message.kind === 'stop') {
    walks.delete(message.id);
  }
}
`;
