// A writer for the "newc" cpio format the Linux kernel unpacks as an
// initramfs (Documentation/driver-api/early-userspace/buffer-format.rst),
// gzip-compressed with node:zlib.
import { gzipSync } from 'node:zlib';

export interface CpioEntry {
  /** Path inside the archive, without a leading slash ("init", "bin/busybox"). */
  path: string;
  /** File type and permissions, e.g. 0o100755 for an executable file. */
  mode: number;
  /** File contents, or for a symlink its target; empty for directories and device nodes. */
  data?: Uint8Array | string;
  /** Device number for character and block device nodes. */
  rdevMajor?: number;
  rdevMinor?: number;
  mtime?: number;
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

const TRAILER = 'TRAILER!!!';
const encoder = new TextEncoder();

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number { return (4 - (n % 4)) % 4; }

/** Build an uncompressed newc archive from `entries` (in order), ending with the trailer. */
export function cpioArchive(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  const push = (b: Uint8Array) => { parts.push(b); size += b.length; };
  const seen = new Set<string>();
  let ino = 1;
  for (const e of [...entries, { path: TRAILER, mode: 0 }]) {
    if (e.path !== TRAILER) {
      if (e.path === '' || e.path.startsWith('/') || e.path.split('/').includes('..')) {
        throw new Error(`cpio: bad path "${e.path}" (relative paths without "..", please)`);
      }
      if (seen.has(e.path)) throw new Error(`cpio: "${e.path}" appears twice`);
      seen.add(e.path);
    }
    const data = typeof e.data === 'string' ? encoder.encode(e.data) : (e.data ?? new Uint8Array(0));
    const name = encoder.encode(e.path + '\0');
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    const header = '070701' +
      hex8(e.path === TRAILER ? 0 : ino++) + hex8(e.mode) + hex8(0) + hex8(0) +
      hex8(isDir ? 2 : 1) + hex8(e.mtime ?? 0) + hex8(data.length) +
      hex8(0) + hex8(0) + hex8(e.rdevMajor ?? 0) + hex8(e.rdevMinor ?? 0) +
      hex8(name.length) + hex8(0);
    push(encoder.encode(header));
    push(name);
    push(new Uint8Array(pad4(110 + name.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

/** A gzip-compressed newc archive, as the kernel takes for an initramfs (level 0 stores without deflating). */
export function initramfs(entries: readonly CpioEntry[], opts: { level?: number } = {}): Uint8Array {
  return gzipSync(cpioArchive(entries), { level: opts.level ?? 6 });
}
