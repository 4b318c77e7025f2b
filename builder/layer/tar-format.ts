/**
 * The tar (ustar + PAX) header format, encoded and decoded by hand so that layer bytes are fully under our control:
 * deterministic field choices, binary-safe xattr values in PAX records, no dependency quirks.
 */
import { BuildError } from '../errors.js';

export const BLOCK = 512;

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

/** One tar entry's metadata, after PAX/GNU extensions are applied. */
export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (integer). */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** xattr name → raw value (from PAX `SCHILY.xattr.*`). */
  xattrs: Map<string, Buffer>;
}

const TYPE_FLAGS: Record<TarEntryType, string> = {
  file: '0', link: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6',
};
const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;

export function paddingFor(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  const text = value.toString(8).padStart(width - 1, '0');
  block.write(text, offset, width - 1, 'latin1');
  block[offset + width - 1] = 0;
}

/** One PAX record `"<len> <key>=<value>\n"`, where len counts its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length), 'ascii'), body]);
}

/**
 * Octal digits of `value` (an integer ≥ 0) right-aligned in `width - 1` bytes and a NUL, as writeOctal writes
 * them, byte by byte: a Buffer.write and two strings per field were ~40% of a small file's header. Returns the
 * sum of the bytes written (for the checksum); a value with too many digits goes through writeOctal.
 */
function putOctal(block: Buffer, offset: number, width: number, value: number): number {
  if (value < 0 || value >= 8 ** (width - 1)) {
    writeOctal(block, offset, width, value);
    let sum = 0;
    for (let i = offset; i < offset + width; i++) sum += block[i]!;
    return sum;
  }
  let sum = 0;
  for (let i = offset + width - 2; i >= offset; i--) {
    const digit = value % 8;
    block[i] = 0x30 + digit;
    sum += 0x30 + digit;
    value = (value - digit) / 8;
  }
  block[offset + width - 1] = 0;
  return sum;
}

/** A name field: a string of printable ASCII (SIMPLE_NAME) byte by byte, else the bytes given. Returns their sum. */
function putName(block: Buffer, offset: number, name: Buffer | string): number {
  let sum = 0;
  if (typeof name === 'string') {
    const length = Math.min(name.length, 100);
    for (let i = 0; i < length; i++) {
      const code = name.charCodeAt(i) & 0xff; // latin1, as Buffer.write(…, 'latin1') does
      block[offset + i] = code;
      sum += code;
    }
    return sum;
  }
  const length = Math.min(name.length, 100);
  for (let i = 0; i < length; i++) {
    block[offset + i] = name[i]!;
    sum += name[i]!;
  }
  return sum;
}

/** "ustar\0" "00": the magic and version at 257. */
const USTAR_MAGIC = [0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30];
const USTAR_MAGIC_SUM = USTAR_MAGIC.reduce((a, b) => a + b, 0);

/**
 * Writes a ustar block at `at` in `target`; those 512 bytes must be zero. The checksum is the sum of the bytes
 * written (the rest are zero) with its own field counted as spaces.
 */
function writeUstar(target: Buffer, at: number, header: TarHeader, name: Buffer | string, linkname: Buffer | string, typeFlag: string, size: number): void {
  let sum = putName(target, at, name);
  sum += putOctal(target, at + 100, 8, header.mode & 0o7777);
  sum += putOctal(target, at + 108, 8, Math.min(header.uid, MAX_OCTAL_8));
  sum += putOctal(target, at + 116, 8, Math.min(header.gid, MAX_OCTAL_8));
  sum += putOctal(target, at + 124, 12, Math.min(size, MAX_OCTAL_12));
  sum += putOctal(target, at + 136, 12, Math.max(0, Math.min(header.mtime, MAX_OCTAL_12)));
  const flag = typeFlag.charCodeAt(0);
  target[at + 156] = flag;
  sum += flag;
  sum += putName(target, at + 157, linkname);
  for (let i = 0; i < 8; i++) target[at + 257 + i] = USTAR_MAGIC[i]!;
  sum += USTAR_MAGIC_SUM;
  sum += putOctal(target, at + 329, 8, header.devmajor);
  sum += putOctal(target, at + 337, 8, header.devminor);
  sum += 8 * 0x20;
  // Six octal digits, NUL, space (the checksum of a 512-byte block is below 8^6).
  for (let i = at + 153; i >= at + 148; i--) {
    const digit = sum % 8;
    target[i] = 0x30 + digit;
    sum = (sum - digit) / 8;
  }
  target[at + 154] = 0;
  target[at + 155] = 0x20;
}

function ustarBlock(header: TarHeader, name: Buffer, linkname: Buffer, typeFlag: string, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeUstar(block, 0, header, name, linkname, typeFlag, size);
  return block;
}

/** Names that {@link writeSimpleHeader} writes as they are: ASCII, and short enough for ustar's 100 bytes. */
const SIMPLE_NAME = /^[\x20-\x7e]{0,100}$/;

/**
 * The common case fast: an entry that needs no PAX record (short ASCII names, small ids, no xattrs) written as one
 * block straight into `target` at `at` (512 zero bytes there). Returns false, writing nothing, for any other
 * entry, which {@link encodeHeader} then encodes: the bytes are the same either way.
 */
export function writeSimpleHeader(target: Buffer, at: number, header: TarHeader): boolean {
  if (header.xattrs.size > 0 || header.uid > MAX_OCTAL_8 || header.gid > MAX_OCTAL_8 || header.size > MAX_OCTAL_12) return false;
  if (header.mtime < 0 || header.mtime > MAX_OCTAL_12) return false;
  if (!SIMPLE_NAME.test(header.name) || !SIMPLE_NAME.test(header.linkname)) return false;
  writeUstar(target, at, header, header.name, header.linkname, TYPE_FLAGS[header.type], header.type === 'file' ? header.size : 0);
  return true;
}

/**
 * Encodes the header block(s) for an entry: a PAX extended header first when a field does not fit ustar
 * (long names, big ids/sizes, xattrs), then the ustar block. uname/gname stay empty on purpose.
 */
export function encodeHeader(header: TarHeader): Buffer {
  const name = Buffer.from(header.name, 'utf8');
  const linkname = Buffer.from(header.linkname, 'utf8');
  const records: Buffer[] = [];
  if (name.length > 100) records.push(paxRecord('path', name));
  if (linkname.length > 100) records.push(paxRecord('linkpath', linkname));
  if (header.uid > MAX_OCTAL_8) records.push(paxRecord('uid', Buffer.from(String(header.uid))));
  if (header.gid > MAX_OCTAL_8) records.push(paxRecord('gid', Buffer.from(String(header.gid))));
  if (header.size > MAX_OCTAL_12) records.push(paxRecord('size', Buffer.from(String(header.size))));
  if (header.mtime < 0 || header.mtime > MAX_OCTAL_12) records.push(paxRecord('mtime', Buffer.from(String(header.mtime))));
  for (const key of [...header.xattrs.keys()].sort()) records.push(paxRecord(`SCHILY.xattr.${key}`, header.xattrs.get(key)!));
  const main = ustarBlock(header, name, linkname, TYPE_FLAGS[header.type], header.type === 'file' ? header.size : 0);
  if (records.length === 0) return main;
  const pax = Buffer.concat(records);
  const paxName = Buffer.from('PaxHeaders/' + header.name.slice(-80), 'utf8').subarray(0, 100);
  const paxHeader: TarHeader = { ...header, mode: 0o644, uid: 0, gid: 0, mtime: 0, devmajor: 0, devminor: 0, xattrs: new Map() };
  return Buffer.concat([ustarBlock(paxHeader, paxName, Buffer.alloc(0), 'x', pax.length), pax, Buffer.alloc(paddingFor(pax.length)), main]);
}

/** End-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

// ---- decoding ----

/** A raw header block as read, before PAX/GNU extensions are applied. */
export type RawHeader = Omit<TarHeader, 'type' | 'xattrs'> & { typeFlag: string };

function readString(block: Buffer, offset: number, width: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end === -1 || end > offset + width ? offset + width : end);
}

function readNumber(block: Buffer, offset: number, width: number): number {
  if (block[offset]! & 0x80) {
    // GNU base-256: big-endian two's complement with the top bit as a flag.
    let value = 0;
    for (let i = offset + 1; i < offset + width; i++) value = value * 256 + block[i]!;
    return value + (block[offset]! & 0x3f) * 256 ** (width - 1);
  }
  const raw = block.toString('ascii', offset, offset + width);
  const nul = raw.indexOf('\0');
  const text = (nul === -1 ? raw : raw.slice(0, nul)).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

export function decodeRawHeader(block: Buffer): RawHeader {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  const stored = readNumber(block, 148, 8);
  if (stored !== sum) throw new BuildError('LAYER_INVALID', 'invalid tar archive: header checksum mismatch (corrupt or not a tar file)');
  let name = readString(block, 0, 100);
  const magic = block.toString('binary', 257, 263);
  if (magic === 'ustar\0' && block[345] !== 0) name = readString(block, 345, 155) + '/' + name;
  return {
    name,
    typeFlag: block[156] === 0 ? '0' : String.fromCharCode(block[156]!),
    mode: readNumber(block, 100, 8),
    uid: readNumber(block, 108, 8),
    gid: readNumber(block, 116, 8),
    size: readNumber(block, 124, 12),
    mtime: readNumber(block, 136, 12),
    linkname: readString(block, 157, 100),
    devmajor: readNumber(block, 329, 8),
    devminor: readNumber(block, 337, 8),
  };
}

/** Parses PAX records, keeping values as raw bytes (xattr values are binary). */
export function decodePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = parseInt(data.toString('ascii', offset, space), 10);
    if (!(length > 0) || offset + length > data.length) {
      throw new BuildError('LAYER_INVALID', 'invalid tar archive: malformed PAX header record');
    }
    const record = data.subarray(space + 1, offset + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals !== -1) records.set(record.toString('utf8', 0, equals), Buffer.from(record.subarray(equals + 1)));
    offset += length;
  }
  return records;
}

export const ENTRY_TYPES: Record<string, TarEntryType> = {
  '0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'directory', '6': 'fifo',
};
