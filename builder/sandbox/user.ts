import { readFileSync } from 'node:fs';
import { resolveInRoot } from '../context/root-path.js';
import { BuildError } from '../errors.js';

/** A USER string resolved against the image's /etc/passwd and /etc/group. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** The primary gid, plus /etc/group memberships when no group was given explicitly (as docker). */
  additionalGids: number[];
  /** Home directory from passwd, `/` when unknown: the default for HOME. */
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const MAX_ID = 2147483647;

/**
 * Resolves a Dockerfile/docker USER string ('', 'root', '1000', '1000:1000', 'app', 'app:staff')
 * against the rootfs's /etc/passwd and /etc/group, following moby/sys/user GetExecUser: a numeric
 * id needs no entry, a name must have one. Files are read as if chrooted, so a symlinked
 * /etc/passwd never leads out of the rootfs.
 */
export async function resolveUser(rootfs: string, user: string): Promise<ResolvedUser> {
  const [userArg, groupArg = ''] = splitOnce(user.trim(), ':');
  const userId = parseId(userArg);
  const passwd = parsePasswd(await readInRoot(rootfs, '/etc/passwd'));

  const matched = passwd.find((entry) =>
    userArg === '' ? entry.uid === 0 : userId !== undefined ? entry.uid === userId : entry.name === userArg,
  );
  if (!matched && userArg !== '' && userId === undefined) {
    throw new BuildError('INVALID_ARGUMENT', `unable to find user ${userArg}: no matching entries in passwd file`);
  }
  const result: ResolvedUser = {
    uid: matched?.uid ?? userId ?? 0,
    gid: matched?.gid ?? 0,
    additionalGids: [],
    // A passwd entry with an empty home field gives HOME= (runc's GetExecUser keeps it); only an unknown user gets /.
    home: matched ? matched.home : '/',
  };
  // Docker's containers always carry the primary gid in the supplementary list too.
  result.additionalGids = [result.gid];
  if (groupArg === '' && !matched) return result;

  const groups = parseGroup(await readInRoot(rootfs, '/etc/group'));
  if (groupArg !== '') {
    const groupId = parseId(groupArg);
    const group = groups.find((entry) => entry.name === groupArg || (groupId !== undefined && entry.gid === groupId));
    if (group) result.gid = group.gid;
    else if (groupId !== undefined) result.gid = groupId;
    else throw new BuildError('INVALID_ARGUMENT', `unable to find group ${groupArg}: no matching entries in group file`);
    result.additionalGids = [result.gid];
  } else {
    const name = matched!.name;
    result.additionalGids = [...new Set([result.gid, ...groups.filter((g) => g.members.includes(name)).map((g) => g.gid)])];
  }
  return result;
}

/**
 * `docker run --group-add`: names (looked up in the rootfs's /etc/group) or numeric gids (needing no entry), added
 * after the user's own groups, as moby's container spec does. An unknown name is moby's error.
 */
export async function resolveGroupAdd(rootfs: string, groupAdd: string[]): Promise<number[]> {
  if (groupAdd.length === 0) return [];
  const groups = parseGroup(await readInRoot(rootfs, '/etc/group'));
  return groupAdd.map((wanted) => {
    const id = parseId(wanted);
    if (id !== undefined) return id;
    const group = groups.find((entry) => entry.name === wanted);
    if (!group) throw new BuildError('INVALID_ARGUMENT', `Unable to find group ${wanted}: no matching entries in group file`);
    return group.gid;
  });
}

/**
 * A COPY/ADD `--chown` as BuildKit's readUser resolves it (solver/llbsolver/ops/user_linux.go): a numeric
 * user is uid and gid at once; a name found in /etc/passwd gives its uid and gid, a name not found gives
 * 0:0 without an error; a group name found in /etc/group replaces the gid, one not found leaves it. `root` is id 0
 * before any lookup (BuildKit's llb.WithUser parseUID), so it needs no /etc/passwd or /etc/group (a scratch stage).
 */
export async function resolveChown(rootfs: string, chown: string): Promise<{ uid: number; gid: number }> {
  const [userArg, groupArg] = splitOnce(chown.trim(), ':');
  const owner = { uid: 0, gid: 0 };
  const userId = chownId(userArg);
  if (userId !== undefined) {
    owner.uid = userId;
    owner.gid = userId;
  } else if (userArg !== '') {
    const entry = parsePasswd(await readDatabase(rootfs, '/etc/passwd')).find((candidate) => candidate.name === userArg);
    if (entry) Object.assign(owner, { uid: entry.uid, gid: entry.gid });
  }
  if (groupArg !== undefined && groupArg !== '') {
    const groupId = chownId(groupArg);
    if (groupId !== undefined) owner.gid = groupId;
    else {
      const group = parseGroup(await readDatabase(rootfs, '/etc/group')).find((candidate) => candidate.name === groupArg);
      if (group) owner.gid = group.gid;
    }
  }
  return owner;
}

function splitOnce(value: string, separator: string): [string, string?] {
  const at = value.indexOf(separator);
  return at < 0 ? [value] : [value.slice(0, at), value.slice(at + 1)];
}

/** An id in a `--chown` or a directory's owner: digits, or `root`. */
function chownId(value: string): number | undefined {
  return value === 'root' ? 0 : parseId(value);
}

function parseId(value: string): number | undefined {
  if (!/^\d+$/.test(value)) return undefined;
  const id = Number(value);
  if (id > MAX_ID) throw new BuildError('INVALID_ARGUMENT', `uids and gids must be in range 0-${MAX_ID}: ${value}`);
  return id;
}

/**
 * /etc/passwd or /etc/group for a `--chown` name: BuildKit's readUser opens the file and fails when it is missing
 * (an image without /etc/passwd cannot resolve a name), while a name the file lacks is not an error.
 */
async function readDatabase(rootfs: string, pathInRoot: string): Promise<string> {
  try {
    return readFileSync(await resolveInRoot(rootfs, pathInRoot), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BuildError('INVALID_ARGUMENT', `open ${pathInRoot}: no such file or directory`);
    return '';
  }
}

/** Missing or unreadable files are an empty database: numeric ids still work. A direct read: it is on every RUN's path. */
async function readInRoot(rootfs: string, pathInRoot: string): Promise<string> {
  try {
    return readFileSync(await resolveInRoot(rootfs, pathInRoot), 'utf8');
  } catch {
    return '';
  }
}

function parsePasswd(content: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of content.split('\n')) {
    const fields = line.trim().split(':');
    if (fields.length < 4 || fields[0]!.startsWith('#')) continue;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || fields[2] === '' || fields[3] === '') continue;
    entries.push({ name: fields[0]!, uid, gid, home: fields[5] ?? '' });
  }
  return entries;
}

function parseGroup(content: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of content.split('\n')) {
    const fields = line.trim().split(':');
    if (fields.length < 3 || fields[0]!.startsWith('#') || fields[2] === '') continue;
    const gid = Number(fields[2]);
    if (!Number.isInteger(gid)) continue;
    const members = (fields[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    entries.push({ name: fields[0]!, gid, members });
  }
  return entries;
}
