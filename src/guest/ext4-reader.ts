// A small read-only ext2/3/4 reader: enough to look a path up in a disk image
// (superblock, group descriptors, inodes, extent trees and direct blocks,
// linear directories, symlinks), so a root disk is checked before boot.
// Every offset read is checked against the image: a corrupt image is an
// Ext4FormatError, never a crash or a read outside the file.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export class Ext4FormatError extends Error {}

const SUPERBLOCK_OFFSET = 1024;
const EXT4_MAGIC = 0xef53;
const ROOT_INODE = 2;
const INCOMPAT_64BIT = 0x80;
const EXTENTS_FL = 0x80000;
const INLINE_DATA_FL = 0x10000000;
const EXTENT_MAGIC = 0xf30a;
const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000;
/** i_block: 12 direct block numbers (then indirect ones, which a root's directories do not reach), or an extent tree, or a short symlink's target. */
const I_BLOCK = 0x28, I_BLOCK_SIZE = 60, DIRECT_BLOCKS = 12;
/** Symlinks followed in one lookup before giving up, as the kernel's limit. */
const MAX_SYMLINKS = 40;
/** Directories and symlinks larger than this are not what a root's lookups need to read. */
const MAX_READ = 16 * 2 ** 20;

export interface Ext4Inode { number: number; mode: number; size: number; flags: number; block: Uint8Array }

export class Ext4Image {
  private readonly fd: number;
  private readonly fileSize: number;
  readonly blockSize: number;
  private readonly inodesPerGroup: number;
  private readonly inodeSize: number;
  private readonly inodeCount: number;
  private readonly descSize: number;
  private readonly firstDataBlock: number;

  /** Opens `path`; throws Ext4FormatError when it holds no ext2/3/4 file system. */
  constructor(path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.fileSize = fstatSync(this.fd).size;
      if (this.fileSize < SUPERBLOCK_OFFSET + 1024) throw new Ext4FormatError(`${this.fileSize} bytes: too small for an ext4 file system`);
      const sb = this.read(SUPERBLOCK_OFFSET, 1024);
      if (sb.getUint16(0x38, true) !== EXT4_MAGIC) throw new Ext4FormatError('no ext2/3/4 superblock (magic 0xEF53 at byte 1080)');
      const logBlock = sb.getUint32(0x18, true);
      if (logBlock > 6) throw new Ext4FormatError(`superblock: block size 2^${10 + logBlock} is not a valid one`);
      this.blockSize = 1024 << logBlock;
      this.inodeCount = sb.getUint32(0x0, true);
      this.inodesPerGroup = sb.getUint32(0x28, true);
      this.firstDataBlock = sb.getUint32(0x14, true);
      const revLevel = sb.getUint32(0x4c, true);
      this.inodeSize = revLevel === 0 ? 128 : sb.getUint16(0x58, true);
      const incompat = sb.getUint32(0x60, true);
      this.descSize = incompat & INCOMPAT_64BIT ? sb.getUint16(0xfe, true) : 32;
      if (this.inodesPerGroup === 0 || this.inodeSize < 128 || this.inodeSize > this.blockSize || this.descSize < 32) {
        throw new Ext4FormatError('superblock: inconsistent geometry');
      }
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  close(): void { closeSync(this.fd); }

  private read(offset: number, length: number): DataView {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.fileSize) {
      throw new Ext4FormatError(`a structure at byte ${offset} (+${length}) lies outside the ${this.fileSize}-byte image`);
    }
    const buf = Buffer.alloc(length);
    const n = readSync(this.fd, buf, 0, length, offset);
    if (n !== length) throw new Ext4FormatError(`short read at byte ${offset}`);
    return new DataView(buf.buffer, buf.byteOffset, length);
  }

  private readBlock(block: number): Uint8Array {
    const v = this.read(block * this.blockSize, this.blockSize);
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }

  inode(number: number): Ext4Inode {
    if (number < 1 || number > this.inodeCount) throw new Ext4FormatError(`inode ${number} out of range`);
    const group = Math.floor((number - 1) / this.inodesPerGroup);
    const index = (number - 1) % this.inodesPerGroup;
    const descAt = (this.firstDataBlock + 1) * this.blockSize + group * this.descSize;
    const desc = this.read(descAt, this.descSize);
    const table = desc.getUint32(0x8, true) + (this.descSize >= 64 ? desc.getUint32(0x28, true) * 2 ** 32 : 0);
    const v = this.read(table * this.blockSize + index * this.inodeSize, 128);
    const size = v.getUint32(0x4, true) + v.getUint32(0x6c, true) * 2 ** 32;
    const block = new Uint8Array(v.buffer, v.byteOffset + I_BLOCK, I_BLOCK_SIZE);
    return { number, mode: v.getUint16(0, true), size, flags: v.getUint32(0x20, true), block };
  }

  /** The physical blocks holding the inode's data, in order (holes as 0). */
  private blocks(ino: Ext4Inode): number[] {
    const count = Math.ceil(ino.size / this.blockSize);
    if (!(ino.flags & EXTENTS_FL)) {
      if (count > DIRECT_BLOCKS) throw new Ext4FormatError(`inode ${ino.number}: indirect blocks are not read here`);
      const v = new DataView(ino.block.buffer, ino.block.byteOffset, I_BLOCK_SIZE);
      return Array.from({ length: count }, (_, i) => v.getUint32(i * 4, true));
    }
    const out: number[] = new Array(count).fill(0);
    const walk = (node: Uint8Array, depth: number) => {
      const v = new DataView(node.buffer, node.byteOffset, node.byteLength);
      if (v.getUint16(0, true) !== EXTENT_MAGIC) throw new Ext4FormatError(`inode ${ino.number}: bad extent header`);
      const entries = v.getUint16(2, true), nodeDepth = v.getUint16(6, true);
      if (nodeDepth !== depth || depth > 5 || 12 + entries * 12 > node.byteLength) throw new Ext4FormatError(`inode ${ino.number}: bad extent tree`);
      for (let i = 0; i < entries; i++) {
        const e = 12 + i * 12;
        if (depth === 0) {
          const first = v.getUint32(e, true);
          let len = v.getUint16(e + 4, true);
          if (len > 32768) len = 0; // an uninitialized extent reads as zeros
          const start = v.getUint16(e + 6, true) * 2 ** 32 + v.getUint32(e + 8, true);
          for (let j = 0; j < len && first + j < count; j++) out[first + j] = start + j;
        } else {
          const leaf = v.getUint32(e + 4, true) + v.getUint16(e + 8, true) * 2 ** 32;
          walk(this.readBlock(leaf), depth - 1);
        }
      }
    };
    const depth = new DataView(ino.block.buffer, ino.block.byteOffset, I_BLOCK_SIZE).getUint16(6, true);
    walk(ino.block, depth);
    return out;
  }

  /** The inode's contents (directories and symlinks: small). */
  data(ino: Ext4Inode): Uint8Array {
    if (ino.size > MAX_READ) throw new Ext4FormatError(`inode ${ino.number}: ${ino.size} bytes is more than a lookup reads`);
    if (ino.flags & INLINE_DATA_FL) return ino.block.slice(0, Math.min(ino.size, I_BLOCK_SIZE));
    const out = new Uint8Array(ino.size);
    this.blocks(ino).forEach((b, i) => {
      if (b === 0) return;
      const bytes = this.readBlock(b);
      out.set(bytes.subarray(0, Math.min(this.blockSize, ino.size - i * this.blockSize)), i * this.blockSize);
    });
    return out;
  }

  /** The entries of a directory: name to inode number. */
  list(dir: Ext4Inode): Map<string, number> {
    if ((dir.mode & S_IFMT) !== S_IFDIR) throw new Ext4FormatError(`inode ${dir.number} is not a directory`);
    const bytes = this.data(dir);
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const entries = new Map<string, number>();
    // Inline directories start with the parent's inode number, then entries; block directories are entries throughout.
    let at = dir.flags & INLINE_DATA_FL ? 4 : 0;
    const decoder = new TextDecoder();
    while (at + 8 <= bytes.length) {
      const inode = v.getUint32(at, true), recLen = v.getUint16(at + 4, true), nameLen = bytes[at + 6];
      if (recLen < 8 || at + recLen > bytes.length || 8 + nameLen > recLen) throw new Ext4FormatError(`directory inode ${dir.number}: bad entry at byte ${at}`);
      if (inode !== 0) entries.set(decoder.decode(bytes.subarray(at + 8, at + 8 + nameLen)), inode);
      at += recLen;
    }
    return entries;
  }

  /** The inode at absolute `path`, following symlinks (as the guest would), or undefined when some part is missing. */
  lookup(path: string): Ext4Inode | undefined {
    const parts = path.split('/').filter(Boolean);
    let dirs: Ext4Inode[] = [this.inode(ROOT_INODE)];
    let hops = 0;
    while (parts.length > 0) {
      const name = parts.shift()!;
      if (name === '.') continue;
      if (name === '..') { if (dirs.length > 1) dirs.pop(); continue; }
      const number = this.list(dirs.at(-1)!).get(name);
      if (number === undefined) return undefined;
      const ino = this.inode(number);
      if ((ino.mode & S_IFMT) === S_IFLNK) {
        if (++hops > MAX_SYMLINKS) throw new Ext4FormatError(`${path}: too many symlinks`);
        const fast = !(ino.flags & (EXTENTS_FL | INLINE_DATA_FL)) && ino.size < I_BLOCK_SIZE;
        const target = new TextDecoder().decode(fast ? ino.block.subarray(0, ino.size) : this.data(ino));
        if (target.startsWith('/')) dirs = [dirs[0]];
        parts.unshift(...target.split('/').filter(Boolean));
        continue;
      }
      if (parts.length > 0 && (ino.mode & S_IFMT) !== S_IFDIR) return undefined;
      dirs.push(ino);
    }
    return dirs.at(-1);
  }
}

export const isDirectory = (ino: Ext4Inode) => (ino.mode & S_IFMT) === S_IFDIR;
export const isExecutableFile = (ino: Ext4Inode) => (ino.mode & S_IFMT) === S_IFREG && (ino.mode & 0o111) !== 0;
