// The fid table: what each of the guest's fids names (a path of components
// below the share's root, resolved afresh, confined, at each use) and, once
// opened, the host descriptor behind it. Both are bounded, so a guest that
// never clunks cannot make the host grow or run out of descriptors.
import { closeSync } from 'node:fs';
import { Errno, P9Error } from './errno.js';
import type { DirCursor } from './dir-cursor.js';

/** Most fids a guest may hold at once (Linux's client holds about one per cached dentry). */
export const MAX_FIDS = 32768;
/** Most host descriptors (open files and directories) a guest may hold at once. */
export const MAX_OPEN = 1024;

export interface OpenFile {
  fd: number;
  readable: boolean;
  writable: boolean;
}

export interface Fid {
  /** Components below the share's root. */
  path: string[];
  /** Opened with lopen or lcreate: a regular file. */
  file?: OpenFile;
  /** Opened with lopen: a directory being read. */
  dir?: DirCursor;
}

export class FidTable {
  private readonly fids = new Map<number, Fid>();
  private openCount = 0;

  constructor(private readonly maxFids = MAX_FIDS, private readonly maxOpen = MAX_OPEN) {}

  get size(): number { return this.fids.size; }
  get open(): number { return this.openCount; }

  get(fid: number): Fid {
    const f = this.fids.get(fid);
    if (!f) throw new P9Error(Errno.EBADF, `no fid ${fid}`);
    return f;
  }

  has(fid: number): boolean { return this.fids.has(fid); }

  /** Add `fid` naming `path` (replacing it if `replace`, as a walk to the same fid does). */
  add(fid: number, path: string[], replace = false): Fid {
    const old = this.fids.get(fid);
    if (old && !replace) throw new P9Error(Errno.EEXIST, `fid ${fid} is in use`);
    if (!old && this.fids.size >= this.maxFids) throw new P9Error(Errno.ENFILE, `the guest holds ${this.maxFids} fids`);
    if (old) { old.path = path; return old; }
    const f: Fid = { path };
    this.fids.set(fid, f);
    return f;
  }

  /** Count one more host descriptor against the bound, before opening it. */
  reserveOpen(): void {
    if (this.openCount >= this.maxOpen) throw new P9Error(Errno.EMFILE, `the guest holds ${this.maxOpen} open files`);
    this.openCount++;
  }

  /** Give back a reservation whose open failed. */
  unreserveOpen(): void { this.openCount--; }

  /** Forget `fid`, closing what it holds open. */
  clunk(fid: number): void {
    const f = this.get(fid);
    this.fids.delete(fid);
    this.closeFid(f);
  }

  private closeFid(f: Fid): void {
    if (f.file) { try { closeSync(f.file.fd); } catch { /* already gone */ } this.openCount--; f.file = undefined; }
    if (f.dir) { f.dir.close(); this.openCount--; f.dir = undefined; }
  }

  /** Forget every fid (Tversion starts a new session; the device resets). */
  clear(): void {
    for (const f of this.fids.values()) this.closeFid(f);
    this.fids.clear();
  }

  /** After a rename, fids at or below `from` name the same objects at `to`. */
  renamed(from: readonly string[], to: readonly string[]): void {
    for (const f of this.fids.values()) {
      if (f.path.length >= from.length && from.every((c, i) => f.path[i] === c)) {
        f.path = [...to, ...f.path.slice(from.length)];
      }
    }
  }
}
