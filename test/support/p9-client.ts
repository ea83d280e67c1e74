// A 9P2000.L client for tests, speaking through any transport that turns a
// request's bytes into a reply's (the server directly, or the virtio device).
// It encodes and decodes with the server's own codec (protocol.ts), as the
// layouts live in one module.
import { Msg, NOFID, Reader, Writer, VERSION_9P2000L, readHeader, type Qid } from '../../src/platform/p9/protocol.js';

export class RlerrorReply extends Error {
  constructor(readonly errno: number, what: string) { super(`${what}: Rlerror errno ${errno}`); }
}

export interface Attr { qid: Qid; mode: number; uid: number; gid: number; nlink: bigint; size: bigint; mtimeSec: bigint }
export interface Entry { qid: Qid; offset: bigint; type: number; name: string }

export class P9Client {
  private tag = 1;
  private nextFid = 100;
  /** Requests are built here, one at a time (the transport copies or serves them before the next). */
  private readonly buf: Uint8Array;
  constructor(private readonly transport: (request: Uint8Array) => Uint8Array, private readonly msize = 64 * 1024) {
    this.buf = new Uint8Array(msize);
  }

  /** Send one message built by `body`; returns a reader past the reply's header. Rlerror throws RlerrorReply. */
  rpc(type: number, body: (w: Writer) => void, what = `message ${type}`): Reader {
    const w = new Writer(this.buf, type, this.tag++ & 0xffff);
    body(w);
    const reply = this.transport(w.finish());
    const h = readHeader(reply);
    const r = new Reader(reply.subarray(0, h.size), 7);
    if (h.type === Msg.Rlerror) throw new RlerrorReply(r.u32(), what);
    if (h.type !== type + 1) throw new Error(`${what}: reply type ${h.type}`);
    return r;
  }

  /** The errno a call fails with (or throws if it succeeds). */
  static errnoOf(call: () => unknown): number {
    try {
      call();
    } catch (e) {
      if (e instanceof RlerrorReply) return e.errno;
      throw e;
    }
    throw new Error('expected an Rlerror');
  }

  fid(): number { return this.nextFid++; }

  version(msize = this.msize, version = VERSION_9P2000L): { msize: number; version: string } {
    const r = this.rpc(Msg.Tversion, (w) => w.u32(msize).str(version), 'version');
    return { msize: r.u32(), version: r.str() };
  }

  /** Tversion then Tattach: the root's fid. */
  mount(): number {
    this.version();
    const fid = this.fid();
    this.rpc(Msg.Tattach, (w) => w.u32(fid).u32(NOFID).str('root').str('').u32(0), 'attach');
    return fid;
  }

  walk(fid: number, names: string[], newFid = this.fid()): { fid: number; qids: Qid[] } {
    const r = this.rpc(Msg.Twalk, (w) => { w.u32(fid).u32(newFid).u16(names.length); for (const n of names) w.str(n); }, `walk ${names.join('/')}`);
    const n = r.u16();
    return { fid: newFid, qids: Array.from({ length: n }, () => r.qid()) };
  }

  /** Walk the whole of `path` (slash-separated) or throw. */
  open(root: number, path: string, flags = 0): number {
    const names = path.split('/').filter(Boolean);
    const { fid, qids } = this.walk(root, names);
    if (qids.length !== names.length) throw new Error(`walk ${path}: ${qids.length} of ${names.length}`);
    this.lopen(fid, flags);
    return fid;
  }

  lopen(fid: number, flags: number): Qid { return this.rpc(Msg.Tlopen, (w) => w.u32(fid).u32(flags), 'lopen').qid(); }

  lcreate(dir: number, name: string, flags: number, mode: number): Qid {
    return this.rpc(Msg.Tlcreate, (w) => w.u32(dir).str(name).u32(flags).u32(mode).u32(0), `lcreate ${name}`).qid();
  }

  read(fid: number, offset: bigint, count: number): Uint8Array {
    const r = this.rpc(Msg.Tread, (w) => w.u32(fid).u64(offset).u32(count), 'read');
    return r.bytesOf(r.u32()).slice();
  }

  readAll(fid: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let offset = 0n;
    for (;;) {
      const b = this.read(fid, offset, 8192);
      if (b.length === 0) return Buffer.concat(parts);
      parts.push(b);
      offset += BigInt(b.length);
    }
  }

  write(fid: number, offset: bigint, data: Uint8Array): number {
    return this.rpc(Msg.Twrite, (w) => w.u32(fid).u64(offset).u32(data.length).bytes(data), 'write').u32();
  }

  readdir(fid: number, offset: bigint, count: number): Entry[] {
    const r = this.rpc(Msg.Treaddir, (w) => w.u32(fid).u64(offset).u32(count), 'readdir');
    const end = r.u32();
    const start = r.remaining;
    const out: Entry[] = [];
    while (start - r.remaining < end) out.push({ qid: r.qid(), offset: r.u64(), type: r.u8(), name: r.str() });
    return out;
  }

  /** Every entry name of an open directory, reading on from each reply's last offset. */
  list(fid: number, count = 512): string[] {
    const names: string[] = [];
    let offset = 0n;
    for (;;) {
      const batch = this.readdir(fid, offset, count);
      if (batch.length === 0) return names;
      names.push(...batch.map((e) => e.name));
      offset = batch[batch.length - 1].offset;
    }
  }

  getattr(fid: number): Attr {
    const r = this.rpc(Msg.Tgetattr, (w) => w.u32(fid).u64(0x7ffn), 'getattr');
    r.u64();
    const qid = r.qid();
    const mode = r.u32(), uid = r.u32(), gid = r.u32();
    const nlink = r.u64(); r.u64();
    const size = r.u64(); r.u64(); r.u64(); r.u64(); r.u64();
    return { qid, mode, uid, gid, nlink, size, mtimeSec: r.u64() };
  }

  setattr(fid: number, a: { valid: number; mode?: number; size?: bigint; mtime?: bigint }): void {
    this.rpc(Msg.Tsetattr, (w) => w.u32(fid).u32(a.valid).u32(a.mode ?? 0).u32(0).u32(0).u64(a.size ?? 0n)
      .u64(0n).u64(0n).u64(a.mtime ?? 0n).u64(0n), 'setattr');
  }

  clunk(fid: number): void { this.rpc(Msg.Tclunk, (w) => w.u32(fid), 'clunk'); }
  remove(fid: number): void { this.rpc(Msg.Tremove, (w) => w.u32(fid), 'remove'); }
  mkdir(dir: number, name: string, mode = 0o755): Qid { return this.rpc(Msg.Tmkdir, (w) => w.u32(dir).str(name).u32(mode).u32(0), `mkdir ${name}`).qid(); }
  symlink(dir: number, name: string, target: string): Qid { return this.rpc(Msg.Tsymlink, (w) => w.u32(dir).str(name).str(target).u32(0), `symlink ${name}`).qid(); }
  readlink(fid: number): string { return this.rpc(Msg.Treadlink, (w) => w.u32(fid), 'readlink').str(); }
  link(dir: number, fid: number, name: string): void { this.rpc(Msg.Tlink, (w) => w.u32(dir).u32(fid).str(name), `link ${name}`); }
  mknod(dir: number, name: string, mode: number): Qid { return this.rpc(Msg.Tmknod, (w) => w.u32(dir).str(name).u32(mode).u32(1).u32(3).u32(0), `mknod ${name}`).qid(); }
  unlinkat(dir: number, name: string, flags = 0): void { this.rpc(Msg.Tunlinkat, (w) => w.u32(dir).str(name).u32(flags), `unlinkat ${name}`); }
  rename(fid: number, dir: number, name: string): void { this.rpc(Msg.Trename, (w) => w.u32(fid).u32(dir).str(name), `rename ${name}`); }
  renameat(oldDir: number, oldName: string, newDir: number, newName: string): void {
    this.rpc(Msg.Trenameat, (w) => w.u32(oldDir).str(oldName).u32(newDir).str(newName), `renameat ${oldName}`);
  }
  fsync(fid: number): void { this.rpc(Msg.Tfsync, (w) => w.u32(fid).u32(0), 'fsync'); }
  statfs(fid: number): { bsize: number; blocks: bigint } {
    const r = this.rpc(Msg.Tstatfs, (w) => w.u32(fid), 'statfs');
    r.u32();
    return { bsize: r.u32(), blocks: r.u64() };
  }
}
