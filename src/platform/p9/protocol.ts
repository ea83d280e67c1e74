// The 9P2000.L wire format (as Linux's net/9p client speaks it): message
// numbers, the constants the messages carry, and the little-endian codec.
// The one module that spells the protocol's layouts; the server and the
// tests' client both encode and decode through it.

/** size[4] type[1] tag[2]: every message starts with it. */
export const HEADER_SIZE = 7;
/** The header of Rread (and Twrite's fixed part before its data): size type tag count[4]. */
export const RREAD_HEADER_SIZE = HEADER_SIZE + 4;
export const VERSION_9P2000L = '9P2000.L';
export const NOTAG = 0xffff;
export const NOFID = 0xffffffff;
/** Most names one Twalk may carry (Plan 9's MAXWELEM, which Linux's client keeps to). */
export const MAX_WALK_NAMES = 16;

export const Msg = {
  Rlerror: 7,
  Tstatfs: 8, Rstatfs: 9,
  Tlopen: 12, Rlopen: 13,
  Tlcreate: 14, Rlcreate: 15,
  Tsymlink: 16, Rsymlink: 17,
  Tmknod: 18, Rmknod: 19,
  Trename: 20, Rrename: 21,
  Treadlink: 22, Rreadlink: 23,
  Tgetattr: 24, Rgetattr: 25,
  Tsetattr: 26, Rsetattr: 27,
  Txattrwalk: 30, Rxattrwalk: 31,
  Txattrcreate: 32, Rxattrcreate: 33,
  Treaddir: 40, Rreaddir: 41,
  Tfsync: 50, Rfsync: 51,
  Tlock: 52, Rlock: 53,
  Tgetlock: 54, Rgetlock: 55,
  Tlink: 70, Rlink: 71,
  Tmkdir: 72, Rmkdir: 73,
  Trenameat: 74, Rrenameat: 75,
  Tunlinkat: 76, Runlinkat: 77,
  Tversion: 100, Rversion: 101,
  Tauth: 102, Rauth: 103,
  Tattach: 104, Rattach: 105,
  Tflush: 108, Rflush: 109,
  Twalk: 110, Rwalk: 111,
  Tread: 116, Rread: 117,
  Twrite: 118, Rwrite: 119,
  Tclunk: 120, Rclunk: 121,
  Tremove: 122, Rremove: 123,
} as const;

/** qid.type bits. */
export const QidType = { DIR: 0x80, SYMLINK: 0x02, FILE: 0x00 } as const;

/** Tgetattr's request mask / Rgetattr's valid bits: the basic set (mode through blocks). */
export const GETATTR_BASIC = 0x7ffn;

/** Tsetattr's valid bits. */
export const SetattrValid = {
  MODE: 0x1, UID: 0x2, GID: 0x4, SIZE: 0x8, ATIME: 0x10, MTIME: 0x20, CTIME: 0x40, ATIME_SET: 0x80, MTIME_SET: 0x100,
} as const;

/** Tlopen/Tlcreate flags (P9_DOTL_*; the values of x86 Linux's O_* flags). */
export const OpenFlag = {
  ACCMODE: 0o3, WRONLY: 0o1, RDWR: 0o2, CREATE: 0o100, EXCL: 0o200, TRUNC: 0o1000, APPEND: 0o2000,
  DIRECTORY: 0o200000,
} as const;

/** Tunlinkat's flag for a directory. */
export const AT_REMOVEDIR = 0x200;

/** Tlock's type and Rlock's status. */
export const LockType = { RDLCK: 0, WRLCK: 1, UNLCK: 2 } as const;
export const LockStatus = { SUCCESS: 0, BLOCKED: 1, ERROR: 2, GRACE: 3 } as const;

export interface Qid { type: number; version: number; path: bigint }
export const QID_SIZE = 13;

/** The message could not be decoded (too short, a string running past its end). */
export class DecodeError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const encoder = new TextEncoder();

/** Reads one message's fields in order. */
export class Reader {
  private pos = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array, start = 0) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }
  get remaining(): number { return this.bytes.length - this.pos; }
  private need(n: number): number {
    if (this.pos + n > this.bytes.length) throw new DecodeError(`message ends ${this.pos + n - this.bytes.length} bytes early`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number { return this.view.getUint8(this.need(1)); }
  u16(): number { return this.view.getUint16(this.need(2), true); }
  u32(): number { return this.view.getUint32(this.need(4), true); }
  u64(): bigint { return this.view.getBigUint64(this.need(8), true); }
  /** A string: length[2] then UTF-8 bytes. */
  str(): string { const n = this.u16(); const at = this.need(n); return utf8.decode(this.bytes.subarray(at, at + n)); }
  /** The raw bytes of a string field (names are compared byte for byte). */
  strBytes(): Uint8Array { const n = this.u16(); const at = this.need(n); return this.bytes.subarray(at, at + n); }
  bytesOf(n: number): Uint8Array { const at = this.need(n); return this.bytes.subarray(at, at + n); }
  qid(): Qid { return { type: this.u8(), version: this.u32(), path: this.u64() }; }
}

/** Builds one message in a caller-owned buffer; overflow() tells whether it ran out of room. */
export class Writer {
  private pos: number;
  private readonly view: DataView;
  private over = false;
  constructor(private readonly buf: Uint8Array, type: number, tag: number) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
    this.u32(0).u8(type).u16(tag);
  }
  get length(): number { return this.pos; }
  get room(): number { return this.buf.length - this.pos; }
  overflow(): boolean { return this.over; }
  private take(n: number): number {
    if (this.pos + n > this.buf.length) { this.over = true; return -1; }
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(v: number): this { const at = this.take(1); if (at >= 0) this.view.setUint8(at, v); return this; }
  u16(v: number): this { const at = this.take(2); if (at >= 0) this.view.setUint16(at, v, true); return this; }
  u32(v: number): this { const at = this.take(4); if (at >= 0) this.view.setUint32(at, v >>> 0, true); return this; }
  u64(v: bigint): this { const at = this.take(8); if (at >= 0) this.view.setBigUint64(at, BigInt.asUintN(64, v), true); return this; }
  str(s: string | Uint8Array): this {
    const b = typeof s === 'string' ? encoder.encode(s) : s;
    if (b.length > 0xffff) { this.over = true; return this; }
    this.u16(b.length);
    const at = this.take(b.length);
    if (at >= 0) this.buf.set(b, at);
    return this;
  }
  bytes(b: Uint8Array): this { const at = this.take(b.length); if (at >= 0) this.buf.set(b, at); return this; }
  qid(q: Qid): this { return this.u8(q.type).u32(q.version).u64(q.path); }
  /** Room for `n` bytes the caller fills in place (a read's data); undefined if they do not fit. */
  reserve(n: number): Uint8Array | undefined { const at = this.take(n); return at < 0 ? undefined : this.buf.subarray(at, at + n); }
  /** Shrink the message to `length` bytes (after a short read into reserved room). */
  truncate(length: number): this { if (length <= this.pos) this.pos = length; return this; }
  /** Fill in a u32 written earlier at `at` (a count known only after what follows it). */
  patchU32(at: number, v: number): this { if (at + 4 <= this.pos) this.view.setUint32(at, v >>> 0, true); return this; }
  /** The finished message, its size field filled in (a view of the buffer). */
  finish(): Uint8Array { this.view.setUint32(0, this.pos, true); return this.buf.subarray(0, this.pos); }
}

/** A T-message's header. */
export interface Header { size: number; type: number; tag: number }
export function readHeader(bytes: Uint8Array): Header {
  const r = new Reader(bytes);
  return { size: r.u32(), type: r.u8(), tag: r.u16() };
}
