// A raw disk image: the guest's byte N is the file's byte N. Opened once;
// writes go to the file through the host's page cache, and flush() is
// fdatasync, so what the guest flushed survives the VMM being killed (and the
// host losing power, as far as the host's disk keeps its promises).
import { closeSync, fdatasyncSync } from 'node:fs';
import type { DiskImage } from './image.js';
import { readFully, writeFully } from './fd-io.js';

export class RawFileImage implements DiskImage {
  private fd: number | undefined;

  /** `fd` is open for reading (and writing unless readOnly); the image owns it, and `release` runs on close. */
  constructor(
    fd: number,
    readonly path: string,
    readonly size: number,
    readonly readOnly: boolean,
    readonly identity: string,
    private readonly release: () => void = () => {},
  ) {
    this.fd = fd;
  }

  read(offset: number, into: Uint8Array): void {
    readFully(this.open(), into, offset);
  }

  write(offset: number, data: Uint8Array): void {
    if (this.readOnly) throw new Error(`${this.path} is read-only`);
    writeFully(this.open(), data, offset);
  }

  flush(): void {
    if (!this.readOnly) fdatasyncSync(this.open());
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    this.release();
  }

  private open(): number {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    return this.fd;
  }
}
