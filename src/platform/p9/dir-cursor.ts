// Reading an open directory for Treaddir: the entries stream from the host's
// directory (memory bounded by one batch whatever the directory's size),
// each offset is the entry's position, and a read at any other offset than
// where the stream stands starts it again and skips ahead (Linux's client
// reads on from the offset of the last entry it got, so that is rare).
import { closeSync, lstatSync, opendirSync, openSync, type BigIntStats, type Dir } from 'node:fs';
import { constants } from 'node:fs';
import { O_PATH, procFd } from './confined-fs.js';

export interface DirEntry { name: string; st: BigIntStats }

export class DirCursor {
  /** The directory, held open (O_PATH), so entries are looked up in it whatever happens to its path. */
  private readonly fd: number;
  private stream: Dir | undefined;
  /** Position of the next entry the stream gives (0 and 1 are "." and ".."). */
  private position = 0;
  /** An entry read but not yet handed out (it did not fit the last reply). */
  private pending: DirEntry | undefined;

  /** `dirFd`: an O_PATH descriptor of the directory (reopened here; the caller keeps its own). `parent`: the ".." entry's attributes. */
  constructor(dirFd: number, private readonly self: BigIntStats, private readonly parent: BigIntStats) {
    this.fd = openSync(procFd(dirFd), O_PATH | constants.O_DIRECTORY);
  }

  /** Stand at the entry at `offset` (as a previous Rreaddir gave it: 0 is the start). */
  seek(offset: number): void {
    if (offset === this.position) return;
    this.rewind();
    while (this.position < offset && this.next()) this.advance();
  }

  /** The entry at the current position, or undefined at the end. */
  next(): DirEntry | undefined {
    if (this.pending) return this.pending;
    if (this.position === 0) return (this.pending = { name: '.', st: this.self });
    if (this.position === 1) return (this.pending = { name: '..', st: this.parent });
    this.stream ??= opendirSync(procFd(this.fd), { bufferSize: 64 });
    for (;;) {
      const d = this.stream.readSync();
      if (!d) return undefined;
      try {
        // lstat of a name in the open directory: never follows it.
        return (this.pending = { name: d.name, st: lstatSync(`${procFd(this.fd)}/${d.name}`, { bigint: true }) });
      } catch {
        // Removed since it was listed: skip it.
      }
    }
  }

  /** The entry next() gave was used: move past it. Its offset (for Rreaddir) is the new position. */
  advance(): number {
    this.pending = undefined;
    return ++this.position;
  }

  private rewind(): void {
    this.stream?.closeSync();
    this.stream = undefined;
    this.pending = undefined;
    this.position = 0;
  }

  close(): void {
    this.stream?.closeSync();
    this.stream = undefined;
    closeSync(this.fd);
  }
}
