// A 9P2000.L file server for one shared host directory, as Linux's `9p`
// filesystem drives it over `9pnet_virtio` (cache=none or cache=loose).
// One request in, one reply out, synchronously: the VMM's thread serves the
// device, so node:fs's synchronous calls are the simple right thing.
//
// Confinement is confined-fs.ts's; the bounds (fids, open descriptors, the
// message size, one readdir batch) are fids.ts's, MAX_MSIZE and dir-cursor.ts's.
//
// Ownership follows QEMU's security_model=none: files are created as the
// host user running xmhf, and a chown the host refuses (EPERM) is ignored.
// Locks (Tlock, Tgetlock) are granted without host locks: Linux's client
// takes each POSIX lock in the guest's own lock table before asking the
// server, so the guest's processes exclude one another; the host's
// processes are not excluded. Extended attributes are not offered
// (EOPNOTSUPP, which the client takes as "none").
import {
  chmodSync, chownSync, closeSync, fdatasyncSync, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync,
  readSync, readlinkSync, renameSync, rmdirSync, statfsSync, symlinkSync, truncateSync, unlinkSync, utimesSync,
  writeSync, type BigIntStats,
} from 'node:fs';
import { constants } from 'node:fs';
import {
  AT_REMOVEDIR, DecodeError, GETATTR_BASIC, HEADER_SIZE, LockStatus, LockType, MAX_WALK_NAMES, Msg, NOFID, OpenFlag,
  QidType, Reader, SetattrValid, VERSION_9P2000L, Writer, readHeader, type Qid,
} from './protocol.js';
import { Errno, P9Error, errnoOf } from './errno.js';
import { ConfinedRoot, MAX_DEPTH, checkName, childPath, procFd } from './confined-fs.js';
import { FidTable, MAX_FIDS, MAX_OPEN, type Fid } from './fids.js';
import { DirCursor } from './dir-cursor.js';

/** Largest message (msize) the server agrees to: 512 KiB, above what Linux's virtio transport can use (500 KiB). */
export const MAX_MSIZE = 512 * 1024;
/** Smallest msize that leaves room for a useful reply. */
export const MIN_MSIZE = 4096;

export interface P9ServerOptions {
  /** Refuse every change with EROFS. */
  readOnly?: boolean;
  maxFids?: number;
  maxOpen?: number;
}

const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFLNK = 0o120000, S_IFCHR = 0o020000, S_IFBLK = 0o060000;
const NO_ID = 0xffffffff;
const NS = 1_000_000_000n;

/** Messages that change the share: refused with EROFS on a read-only one. */
const WRITES = new Set<number>([
  Msg.Tlcreate, Msg.Tsymlink, Msg.Tmknod, Msg.Trename, Msg.Tsetattr, Msg.Txattrcreate, Msg.Twrite, Msg.Tlink,
  Msg.Tmkdir, Msg.Trenameat, Msg.Tunlinkat,
]);

export function qidOf(st: BigIntStats): Qid {
  const kind = Number(st.mode) & S_IFMT;
  const type = kind === S_IFDIR ? QidType.DIR : kind === S_IFLNK ? QidType.SYMLINK : QidType.FILE;
  // As QEMU: the version changes with the file's mtime and size, so a cache=loose client notices host-side changes.
  const version = Number(BigInt.asUintN(32, (st.mtimeNs / NS) ^ (st.size << 8n)));
  return { type, version, path: st.ino };
}

export class P9Server {
  private readonly root: ConfinedRoot;
  private readonly fids: FidTable;
  private readonly readOnly: boolean;
  private msize = MAX_MSIZE;
  /** Replies are built here (one at a time), then copied into the guest's buffers. */
  private readonly reply = new Uint8Array(MAX_MSIZE);

  constructor(hostDir: string, o: P9ServerOptions = {}) {
    this.root = new ConfinedRoot(hostDir);
    this.fids = new FidTable(o.maxFids ?? MAX_FIDS, o.maxOpen ?? MAX_OPEN);
    this.readOnly = o.readOnly ?? false;
  }

  /** The largest request the server takes now (the negotiated msize). */
  get maxMessage(): number { return this.msize; }
  /** Fids and host descriptors the guest holds (for tests of the bounds). */
  get held(): { fids: number; open: number } { return { fids: this.fids.size, open: this.fids.open }; }

  /** Forget the session (the device was reset). */
  reset(): void { this.fids.clear(); this.msize = MAX_MSIZE; }
  close(): void { this.fids.clear(); this.root.close(); }

  /**
   * Serve one request (a whole message); the reply fits `room` bytes or is
   * Rlerror (EMSGSIZE). The returned bytes are valid until the next call.
   */
  handle(request: Uint8Array, room: number = MAX_MSIZE): Uint8Array {
    let tag = 0xffff;
    let type = 0;
    room = Math.min(room, this.msize, this.reply.length);
    try {
      if (request.length < HEADER_SIZE) throw new P9Error(Errno.EINVAL, 'message shorter than its header');
      const h = readHeader(request);
      tag = h.tag;
      type = h.type;
      if (h.size !== request.length) throw new P9Error(Errno.EINVAL, `size field ${h.size}, message ${request.length} bytes`);
      if (h.size > this.msize) throw new P9Error(Errno.EMSGSIZE);
      if (this.readOnly && WRITES.has(type)) throw new P9Error(Errno.EROFS);
      const w = new Writer(this.reply.subarray(0, room), type + 1, tag);
      this.dispatch(type, new Reader(request, HEADER_SIZE), w);
      if (w.overflow()) throw new P9Error(Errno.EMSGSIZE, 'the reply does not fit the guest\'s buffer');
      return w.finish();
    } catch (e) {
      return this.rlerror(tag, e instanceof DecodeError ? Errno.EINVAL : errnoOf(e));
    }
  }

  /** Rlerror for `tag` (for a request the device could not hand over whole). Valid until the next call. */
  rlerror(tag: number, errno: number): Uint8Array { return new Writer(this.reply, Msg.Rlerror, tag).u32(errno).finish(); }

  private dispatch(type: number, r: Reader, w: Writer): void {
    switch (type) {
      case Msg.Tversion: return this.version(r, w);
      case Msg.Tattach: return this.attach(r, w);
      case Msg.Twalk: return this.walk(r, w);
      case Msg.Tclunk: this.fids.clunk(r.u32()); return;
      case Msg.Tgetattr: return this.getattr(r, w);
      case Msg.Tsetattr: return this.setattr(r);
      case Msg.Tlopen: return this.lopen(r, w);
      case Msg.Tlcreate: return this.lcreate(r, w);
      case Msg.Tread: return this.read(r, w);
      case Msg.Twrite: return this.write(r, w);
      case Msg.Treaddir: return this.readdir(r, w);
      case Msg.Tremove: return this.remove(r);
      case Msg.Tunlinkat: return this.unlinkat(r);
      case Msg.Trename: return this.rename(r);
      case Msg.Trenameat: return this.renameat(r);
      case Msg.Tmkdir: return this.mkdir(r, w);
      case Msg.Tsymlink: return this.symlink(r, w);
      case Msg.Treadlink: return this.readlink(r, w);
      case Msg.Tlink: return this.link(r);
      case Msg.Tmknod: return this.mknod(r, w);
      case Msg.Tstatfs: return this.statfs(r, w);
      case Msg.Tfsync: return this.fsync(r);
      case Msg.Tlock: return this.lock(r, w);
      case Msg.Tgetlock: return this.getlock(r, w);
      // Requests are served in order, one at a time: the one Tflush names has been answered already.
      case Msg.Tflush: r.u16(); return;
      case Msg.Txattrwalk: case Msg.Txattrcreate: case Msg.Tauth:
      default:
        throw new P9Error(Errno.EOPNOTSUPP, `message type ${type}`);
    }
  }

  private version(r: Reader, w: Writer): void {
    const msize = r.u32();
    const version = r.str();
    // The server may lower the client's msize, never raise it: below MIN_MSIZE there is no useful session.
    if (msize < MIN_MSIZE) throw new P9Error(Errno.EINVAL, `msize ${msize}`);
    this.fids.clear();
    this.msize = Math.min(msize, MAX_MSIZE);
    w.u32(this.msize).str(version.startsWith(VERSION_9P2000L) ? VERSION_9P2000L : 'unknown');
  }

  private attach(r: Reader, w: Writer): void {
    const fid = r.u32();
    const afid = r.u32();
    r.str(); r.str(); // uname, aname: one tree, served as the host user
    if (afid !== NOFID) throw new P9Error(Errno.EOPNOTSUPP, 'no authentication');
    const qid = this.root.withNode([], (_fd, st) => qidOf(st));
    this.fids.add(fid, []);
    w.qid(qid);
  }

  /**
   * Twalk: each name resolved inside the last object found, never following
   * a symlink; ".." drops a component (at the root it stays there). The new
   * fid exists only if every name was found; else the qids found so far
   * (none: an error).
   */
  private walk(r: Reader, w: Writer): void {
    const fidNo = r.u32();
    const newFid = r.u32();
    const count = r.u16();
    if (count > MAX_WALK_NAMES) throw new P9Error(Errno.EINVAL, `${count} names in one walk`);
    const names: string[] = [];
    for (let i = 0; i < count; i++) names.push(r.str());
    const from = this.fids.get(fidNo);
    if (newFid !== fidNo && this.fids.has(newFid)) throw new P9Error(Errno.EEXIST, `fid ${newFid} is in use`);
    const path = [...from.path];
    const qids: Qid[] = [];
    let fd = this.root.open(path);
    try {
      for (const name of names) {
        let next: number;
        try {
          if (!fstatSync(fd).isDirectory()) throw new P9Error(Errno.ENOTDIR);
          if (name === '..') {
            path.pop();
            next = this.root.open(path);
          } else {
            checkName(name);
            if (path.length >= MAX_DEPTH) throw new P9Error(Errno.ENAMETOOLONG);
            next = this.root.step(fd, name, false);
            path.push(name);
          }
        } catch (e) {
          if (qids.length === 0) throw e;
          break;
        }
        closeSync(fd);
        fd = next;
        qids.push(qidOf(fstatSync(fd, { bigint: true })));
      }
    } finally {
      closeSync(fd);
    }
    if (qids.length === names.length) this.fids.add(newFid, path, newFid === fidNo);
    w.u16(qids.length);
    for (const q of qids) w.qid(q);
  }

  private getattr(r: Reader, w: Writer): void {
    const fid = this.fids.get(r.u32());
    r.u64(); // request mask: the basic set is always sent
    const st = this.statOf(fid);
    const time = (ns: bigint) => { w.u64(ns / NS).u64(ns % NS); };
    w.u64(GETATTR_BASIC).qid(qidOf(st)).u32(Number(st.mode)).u32(Number(st.uid)).u32(Number(st.gid))
      .u64(st.nlink).u64(st.rdev).u64(st.size).u64(st.blksize).u64(st.blocks);
    time(st.atimeNs); time(st.mtimeNs); time(st.ctimeNs);
    w.u64(0n).u64(0n).u64(0n).u64(0n); // btime, gen, data_version: not offered
  }

  /** The fid's attributes: of its open descriptor if it has one, else of the object its path names now. */
  private statOf(fid: Fid): BigIntStats {
    if (fid.file) return fstatSync(fid.file.fd, { bigint: true });
    return this.root.withNode(fid.path, (_fd, st) => st);
  }

  private setattr(r: Reader): void {
    const fid = this.fids.get(r.u32());
    const valid = r.u32();
    const mode = r.u32(), uid = r.u32(), gid = r.u32();
    const size = r.u64();
    const atime = { sec: r.u64(), nsec: r.u64() }, mtime = { sec: r.u64(), nsec: r.u64() };
    this.root.withNode(fid.path, (fd, st) => {
      const target = procFd(fd); // the object found, never a symlink behind it
      if (valid & SetattrValid.MODE) chmodSync(target, mode & 0o7777);
      if (valid & (SetattrValid.UID | SetattrValid.GID)) {
        try {
          chownSync(target, valid & SetattrValid.UID && uid !== NO_ID ? uid : -1, valid & SetattrValid.GID && gid !== NO_ID ? gid : -1);
        } catch (e) {
          if (errnoOf(e) !== Errno.EPERM) throw e; // security_model=none: ownership the host refuses is not an error
        }
      }
      if (valid & SetattrValid.SIZE) {
        const kind = Number(st.mode) & S_IFMT;
        if (kind === S_IFDIR) throw new P9Error(Errno.EISDIR);
        if (kind !== S_IFREG) throw new P9Error(Errno.EINVAL);
        if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new P9Error(Errno.EFBIG);
        truncateSync(target, Number(size));
      }
      if (valid & (SetattrValid.ATIME | SetattrValid.MTIME)) {
        const now = Date.now() / 1000;
        const seconds = (t: { sec: bigint; nsec: bigint }) => Number(t.sec) + Number(t.nsec) / 1e9;
        const a = !(valid & SetattrValid.ATIME) ? Number(st.atimeNs) / 1e9 : valid & SetattrValid.ATIME_SET ? seconds(atime) : now;
        const m = !(valid & SetattrValid.MTIME) ? Number(st.mtimeNs) / 1e9 : valid & SetattrValid.MTIME_SET ? seconds(mtime) : now;
        utimesSync(target, a, m);
      }
    });
  }

  private lopen(r: Reader, w: Writer): void {
    const fid = this.fids.get(r.u32());
    const flags = r.u32();
    if (fid.file || fid.dir) throw new P9Error(Errno.EINVAL, 'fid already open');
    const access = flags & OpenFlag.ACCMODE;
    const writes = access === OpenFlag.WRONLY || access === OpenFlag.RDWR || (flags & OpenFlag.TRUNC) !== 0;
    const qid = this.root.withNode(fid.path, (fd, st) => {
      const kind = Number(st.mode) & S_IFMT;
      if (kind === S_IFDIR) {
        if (writes) throw new P9Error(Errno.EISDIR);
        const parent = fid.path.length === 0 ? st : this.root.withNode(fid.path.slice(0, -1), (_p, pst) => pst);
        this.fids.reserveOpen();
        try { fid.dir = new DirCursor(fd, st, parent); } catch (e) { this.fids.unreserveOpen(); throw e; }
        return qidOf(st);
      }
      if (kind === S_IFLNK) throw new P9Error(Errno.ELOOP);
      if (kind !== S_IFREG) throw new P9Error(Errno.EOPNOTSUPP, 'only regular files and directories are opened on the host');
      if (writes && this.readOnly) throw new P9Error(Errno.EROFS);
      this.openFile(fid, procFd(fd), flags & (OpenFlag.ACCMODE | OpenFlag.TRUNC | OpenFlag.APPEND));
      return qidOf(st);
    });
    w.qid(qid).u32(0);
  }

  /**
   * Open `path` for `fid`: a magic link to an object checked to be a regular
   * file (no O_NOFOLLOW: the magic link is itself a link, and the kernel goes
   * no further than the object behind it), or a name in an open directory
   * (the caller adds O_NOFOLLOW).
   */
  private openFile(fid: Fid, path: string, flags: number, mode?: number): BigIntStats {
    this.fids.reserveOpen();
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO someone put in the share must not stall the VMM (it is refused just below).
      fd = openSync(path, flags | constants.O_NONBLOCK, mode);
    } catch (e) {
      this.fids.unreserveOpen();
      throw e;
    }
    const st = fstatSync(fd, { bigint: true });
    if ((Number(st.mode) & S_IFMT) !== S_IFREG) {
      closeSync(fd);
      this.fids.unreserveOpen();
      throw new P9Error(Errno.EOPNOTSUPP, 'not a regular file');
    }
    const access = flags & OpenFlag.ACCMODE;
    fid.file = { fd, readable: access !== OpenFlag.WRONLY, writable: access !== 0 };
    return st;
  }

  private lcreate(r: Reader, w: Writer): void {
    const fid = this.fids.get(r.u32());
    const name = r.str();
    const flags = r.u32();
    const mode = r.u32();
    r.u32(); // gid: files belong to the host user
    if (fid.file || fid.dir) throw new P9Error(Errno.EINVAL, 'fid already open');
    if (fid.path.length >= MAX_DEPTH) throw new P9Error(Errno.ENAMETOOLONG);
    const st = this.root.withDir(fid.path, (dirFd) =>
      this.openFile(fid, childPath(dirFd, name), constants.O_CREAT | constants.O_NOFOLLOW | (flags & (OpenFlag.ACCMODE | OpenFlag.EXCL | OpenFlag.TRUNC | OpenFlag.APPEND)), mode & 0o7777));
    fid.path = [...fid.path, name];
    w.qid(qidOf(st)).u32(0);
  }

  private read(r: Reader, w: Writer): void {
    const fid = this.fids.get(r.u32());
    const offset = this.offset(r.u64());
    const count = r.u32();
    if (fid.dir) throw new P9Error(Errno.EISDIR);
    if (!fid.file?.readable) throw new P9Error(Errno.EBADF, 'fid not open for reading');
    const n = Math.min(count, w.room - 4);
    const at = w.length;
    w.u32(0);
    const buf = w.reserve(n)!;
    const got = readSync(fid.file.fd, buf, 0, n, offset);
    w.patchU32(at, got).truncate(at + 4 + got);
  }

  private write(r: Reader, w: Writer): void {
    const fid = this.fids.get(r.u32());
    const offset = this.offset(r.u64());
    const count = r.u32();
    if (count > r.remaining) throw new P9Error(Errno.EINVAL, `Twrite of ${count} bytes carries ${r.remaining}`);
    const data = r.bytesOf(count);
    if (!fid.file?.writable) throw new P9Error(Errno.EBADF, 'fid not open for writing');
    w.u32(writeSync(fid.file.fd, data, 0, data.length, offset));
  }

  private offset(v: bigint): number {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new P9Error(Errno.EFBIG);
    return Number(v);
  }

  /** Entries from `offset`, as many as fit `count` bytes: qid[13] offset[8] type[1] name[s] each. */
  private readdir(r: Reader, w: Writer): void {
    const fid = this.fids.get(r.u32());
    const offset = this.offset(r.u64());
    const count = Math.min(r.u32(), w.room - 4);
    if (!fid.dir) throw new P9Error(Errno.EBADF, 'fid not open as a directory');
    const cursor = fid.dir;
    cursor.seek(offset);
    const start = w.length;
    w.u32(0);
    let used = 0;
    for (let e = cursor.next(); e; e = cursor.next()) {
      const size = 13 + 8 + 1 + 2 + Buffer.byteLength(e.name);
      if (used + size > count) {
        if (used === 0) throw new P9Error(Errno.EINVAL, 'readdir buffer smaller than one entry');
        break;
      }
      const next = cursor.advance();
      w.qid(qidOf(e.st)).u64(BigInt(next)).u8((Number(e.st.mode) & S_IFMT) >> 12).str(e.name);
      used += size;
    }
    w.patchU32(start, used);
  }

  private remove(r: Reader): void {
    const fidNo = r.u32();
    const fid = this.fids.get(fidNo);
    try {
      if (this.readOnly) throw new P9Error(Errno.EROFS);
      this.root.withParent(fid.path, (dirFd, name) => this.removeName(dirFd, name));
    } finally {
      this.fids.clunk(fidNo); // Tremove clunks the fid whatever happens
    }
  }

  private removeName(dirFd: number, name: string, directory?: boolean): void {
    const path = childPath(dirFd, name);
    if (directory ?? lstatSync(path).isDirectory()) rmdirSync(path);
    else unlinkSync(path);
  }

  private unlinkat(r: Reader): void {
    const dir = this.fids.get(r.u32());
    const name = r.str();
    const flags = r.u32();
    this.root.withDir(dir.path, (dirFd) => this.removeName(dirFd, name, (flags & AT_REMOVEDIR) !== 0));
  }

  private rename(r: Reader): void {
    const fid = this.fids.get(r.u32());
    const dir = this.fids.get(r.u32());
    const name = r.str();
    this.move(fid.path.slice(0, -1), fid.path.at(-1), dir.path, name);
  }

  private renameat(r: Reader): void {
    const oldDir = this.fids.get(r.u32());
    const oldName = r.str();
    const newDir = this.fids.get(r.u32());
    const newName = r.str();
    this.move(oldDir.path, oldName, newDir.path, newName);
  }

  /** rename(2) of a name in one directory to a name in another (neither followed), then the fids below it follow. */
  private move(fromDir: string[], fromName: string | undefined, toDir: string[], toName: string): void {
    if (fromName === undefined) throw new P9Error(Errno.EBUSY, 'the share\'s root cannot be renamed');
    if (toDir.length >= MAX_DEPTH) throw new P9Error(Errno.ENAMETOOLONG);
    this.root.withDir(fromDir, (fromFd) => this.root.withDir(toDir, (toFd) => {
      renameSync(childPath(fromFd, fromName), childPath(toFd, toName));
    }));
    this.fids.renamed([...fromDir, fromName], [...toDir, toName]);
  }

  /** Make `name` in the directory `dir` with `make`, and answer its qid. */
  private makeIn(dir: Fid, name: string, w: Writer, make: (path: string) => void): void {
    if (dir.path.length >= MAX_DEPTH) throw new P9Error(Errno.ENAMETOOLONG);
    const st = this.root.withDir(dir.path, (dirFd) => {
      const path = childPath(dirFd, name);
      make(path);
      return lstatSync(path, { bigint: true });
    });
    w.qid(qidOf(st));
  }

  private mkdir(r: Reader, w: Writer): void {
    const dir = this.fids.get(r.u32());
    const name = r.str();
    const mode = r.u32();
    r.u32(); // gid
    this.makeIn(dir, name, w, (path) => mkdirSync(path, mode & 0o7777));
  }

  private symlink(r: Reader, w: Writer): void {
    const dir = this.fids.get(r.u32());
    const name = r.str();
    const target = r.str();
    r.u32(); // gid
    // The link is stored as the guest wrote it; the host never follows it.
    this.makeIn(dir, name, w, (path) => symlinkSync(target, path));
  }

  private mknod(r: Reader, w: Writer): void {
    const dir = this.fids.get(r.u32());
    const name = r.str();
    const mode = r.u32();
    r.u32(); r.u32(); r.u32(); // major, minor, gid
    const kind = mode & S_IFMT;
    if (kind === S_IFCHR || kind === S_IFBLK) throw new P9Error(Errno.EPERM, 'device nodes are not made in a share');
    if (kind !== S_IFREG && kind !== 0) throw new P9Error(Errno.EOPNOTSUPP, 'FIFOs and sockets are not made in a share');
    this.makeIn(dir, name, w, (path) => closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, mode & 0o7777)));
  }

  private readlink(r: Reader, w: Writer): void {
    const fid = this.fids.get(r.u32());
    // readlink of the name in its directory: the link's own text, never what it points at.
    const target = this.root.withParent(fid.path, (dirFd, name) => readlinkSync(childPath(dirFd, name), { encoding: 'buffer' }));
    w.str(new Uint8Array(target.buffer, target.byteOffset, target.length));
  }

  private link(r: Reader): void {
    const dir = this.fids.get(r.u32());
    const fid = this.fids.get(r.u32());
    const name = r.str();
    this.root.withParent(fid.path, (oldDirFd, oldName) => this.root.withDir(dir.path, (newDirFd) => {
      linkSync(childPath(oldDirFd, oldName), childPath(newDirFd, name)); // link(2) does not follow a symlink
    }));
  }

  private statfs(r: Reader, w: Writer): void {
    const fid = this.fids.get(r.u32());
    const s = this.root.withNode(fid.path, (fd) => statfsSync(procFd(fd), { bigint: true }));
    w.u32(Number(BigInt.asUintN(32, s.type))).u32(Number(s.bsize)).u64(s.blocks).u64(s.bfree).u64(s.bavail)
      .u64(s.files).u64(s.ffree).u64(0n).u32(255);
  }

  private fsync(r: Reader): void {
    const fid = this.fids.get(r.u32());
    const datasync = r.u32();
    if (fid.file) (datasync ? fdatasyncSync : fsyncSync)(fid.file.fd);
  }

  private lock(r: Reader, w: Writer): void {
    this.fids.get(r.u32());
    w.u8(LockStatus.SUCCESS); // see the header: the guest's own lock table decides
  }

  private getlock(r: Reader, w: Writer): void {
    this.fids.get(r.u32());
    r.u8();
    const start = r.u64(), length = r.u64(), procId = r.u32(), clientId = r.strBytes();
    w.u8(LockType.UNLCK).u64(start).u64(length).u32(procId).str(clientId);
  }
}
