// `--disk FILE,snapshot`: the guest reads the image and writes an overlay
// that is dropped at exit, so the image stays byte-identical. The overlay is
// a temporary file in the host's temporary directory ($TMPDIR), unlinked as
// soon as it is opened: nothing of it outlives the process, even a killed
// one. What it costs: disk space there for the blocks the guest wrote (4 KiB
// each, at most the image's size), and host memory of one bit per block,
// allocated 4 KiB for each 128 MiB region written (BlockSet).
import { closeSync, openSync, unlinkSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { DiskImage } from './image.js';
import { BlockSet } from './block-set.js';
import { readFully, writeFully } from './fd-io.js';

/** Granularity of the overlay: a block is read from the image until the guest writes any of it. */
export const OVERLAY_BLOCK = 4096;

export class SnapshotImage implements DiskImage {
  readonly readOnly = false;
  /** Blocks whose current contents are in the overlay. */
  private readonly copied = new BlockSet();
  private fd: number | undefined;

  private constructor(private readonly base: DiskImage, overlayFd: number) {
    this.fd = overlayFd;
  }

  /** An overlay over `base` (which it owns and closes), in a new unlinked temporary file. */
  static create(base: DiskImage): SnapshotImage {
    const path = join(tmpdir(), `xmhf-snapshot-${process.pid}-${randomBytes(6).toString('hex')}`);
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    unlinkSync(path);
    return new SnapshotImage(base, fd);
  }

  get size(): number { return this.base.size; }
  get path(): string { return this.base.path; }
  get identity(): string { return this.base.identity; }
  /** Host memory the overlay's bitmap holds. */
  get bitmapBytes(): number { return this.copied.bytes; }

  read(offset: number, into: Uint8Array): void {
    const end = offset + into.length;
    let at = offset;
    while (at < end) {
      // The longest run of blocks from `at` that are all in the overlay, or all not.
      const inOverlay = this.copied.has(Math.floor(at / OVERLAY_BLOCK));
      let runEnd = (Math.floor(at / OVERLAY_BLOCK) + 1) * OVERLAY_BLOCK;
      while (runEnd < end && this.copied.has(runEnd / OVERLAY_BLOCK) === inOverlay) runEnd += OVERLAY_BLOCK;
      runEnd = Math.min(runEnd, end);
      const part = into.subarray(at - offset, runEnd - offset);
      if (inOverlay) readFully(this.overlay(), part, at);
      else this.base.read(at, part);
      at = runEnd;
    }
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const first = Math.floor(offset / OVERLAY_BLOCK);
    const last = Math.floor((offset + data.length - 1) / OVERLAY_BLOCK);
    // A block the write covers only in part takes the rest of its bytes from the image first.
    for (const block of first === last ? [first] : [first, last]) {
      const start = block * OVERLAY_BLOCK;
      const end = Math.min(start + OVERLAY_BLOCK, this.size);
      if (!this.copied.has(block) && (offset > start || offset + data.length < end)) this.copyUp(block, start, end);
    }
    writeFully(this.overlay(), data, offset);
    for (let block = first; block <= last; block++) this.copied.add(block);
  }

  /** Nothing written here outlives the run: there is nothing to make durable. */
  flush(): void {}

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    this.base.close();
  }

  private copyUp(block: number, start: number, end: number): void {
    const bytes = new Uint8Array(end - start);
    this.base.read(start, bytes);
    writeFully(this.overlay(), bytes, start);
    this.copied.add(block);
  }

  private overlay(): number {
    if (this.fd === undefined) throw new Error(`the snapshot of ${this.base.path} is closed`);
    return this.fd;
  }
}
