// The split virtqueue from the device side (virtio 1.2 section 2.7), behind
// the Virtqueue and DescriptorChain of device.ts. The descriptor table, the
// rings, indirect tables and buffers are all read and written through the
// DMA port the core hands the platform, so a hypapp's protections and the
// bounds of guest RAM hold for every byte. The driver is not trusted: every
// index, length and flag is checked, a chain is walked at most as many
// steps as its table has entries, and a driver that breaks the rules gets
// DEVICE_NEEDS_RESET (section 2.1.2) through `needsReset`.
import type { DmaPort } from '../platform.js';
import type { DescriptorChain, Virtqueue } from './device.js';
import {
  AVAIL_ELEM_SIZE, AVAIL_FLAGS, AVAIL_IDX, AVAIL_RING, DESC_ADDR, DESC_FLAGS, DESC_LEN, DESC_NEXT, DESC_SIZE,
  MAX_QUEUE_SIZE, USED_ELEM_ID, USED_ELEM_LEN, USED_ELEM_SIZE, USED_IDX, USED_RING, VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, availUsedEvent, needEvent, usedAvailEvent,
} from './layout.js';

export interface SplitQueueConfig {
  index: number;
  /** Queue size the driver chose (a power of two, at most the device's maximum). */
  size: number;
  /** Guest-physical addresses of the descriptor table, available (driver) ring and used (device) ring. */
  desc: number;
  avail: number;
  used: number;
  /** VIRTIO_RING_F_EVENT_IDX and VIRTIO_RING_F_INDIRECT_DESC were negotiated. */
  eventIdx: boolean;
  indirect: boolean;
  /** The device's name, for DMA reports. */
  device: string;
  dma: DmaPort;
  /** The driver broke the rules: DEVICE_NEEDS_RESET. */
  needsReset: (reason: string) => void;
  /** Send the queue's interrupt (MSI-X vector or ISR + INTx, the transport's business). */
  interrupt: () => void;
}

/** One piece of a chain: `length` bytes at `gpa`. */
interface Segment { gpa: number; length: number }

export class SplitQueue implements Virtqueue {
  readonly index: number;
  readonly size: number;
  /** The driver's avail idx we have consumed up to (mod 2^16). */
  private lastAvail = 0;
  /** Our used idx (mod 2^16). */
  private usedIdx = 0;
  /** Used idx at the last flush (EVENT_IDX's "old"). */
  private flushedUsed = 0;
  /** Set after needsReset or when the transport retires the queue (reset): nothing more happens. */
  private dead = false;

  constructor(private readonly c: SplitQueueConfig) {
    this.index = c.index;
    this.size = c.size;
  }

  /** The device was reset: chains still held complete into nothing. */
  retire(): void { this.dead = true; }

  pop(): DescriptorChain | undefined {
    if (this.dead) return undefined;
    const c = this.c;
    const availIdx = this.u16(c.avail + AVAIL_IDX);
    if (availIdx === undefined) return this.fail('its available ring is outside the memory the device may read');
    const pending = (availIdx - this.lastAvail) & 0xffff;
    if (pending > this.size) return this.fail(`the available index moved by ${pending}, more than the queue's ${this.size} entries`);
    if (pending === 0) return undefined;
    const head = this.u16(c.avail + AVAIL_RING + AVAIL_ELEM_SIZE * (this.lastAvail % this.size));
    if (head === undefined) return this.fail('its available ring is outside the memory the device may read');
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    // EVENT_IDX: ask to be notified of the very next buffer (as QEMU does on every pop).
    if (c.eventIdx) this.putU16(c.used + usedAvailEvent(this.size), this.lastAvail);
    return this.walk(head);
  }

  flush(): void {
    if (this.dead || this.flushedUsed === this.usedIdx) return;
    const old = this.flushedUsed;
    this.flushedUsed = this.usedIdx;
    let notify: boolean;
    if (this.c.eventIdx) {
      const event = this.u16(this.c.avail + availUsedEvent(this.size));
      notify = event === undefined || needEvent(event, this.usedIdx, old);
    } else {
      const flags = this.u16(this.c.avail + AVAIL_FLAGS);
      notify = flags === undefined || (flags & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    }
    if (notify) this.c.interrupt();
  }

  /** Follow the chain from `head`, indirect table included, into readable and writable segments. */
  private walk(head: number): DescriptorChain | undefined {
    const readable: Segment[] = [], writable: Segment[] = [];
    let tableBase = this.c.desc, tableCount = this.size, inIndirect = false;
    let i = head, steps = 0;
    for (;;) {
      if (i >= tableCount) return this.fail(`descriptor ${i} is outside a table of ${tableCount}`);
      if (++steps > tableCount) return this.fail(`descriptor chain from ${head} loops or is longer than its table of ${tableCount}`);
      const d = this.c.dma.read(this.c.device, tableBase + DESC_SIZE * i, DESC_SIZE);
      if (!d) return this.fail('its descriptor table is outside the memory the device may read');
      const v = new DataView(d.buffer, d.byteOffset, DESC_SIZE);
      const gpa = Number(v.getBigUint64(DESC_ADDR, true));
      const length = v.getUint32(DESC_LEN, true);
      const flags = v.getUint16(DESC_FLAGS, true);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (!this.c.indirect) return this.fail('an indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC');
        if (inIndirect) return this.fail('an indirect descriptor inside an indirect table');
        if (flags & VIRTQ_DESC_F_NEXT) return this.fail('a descriptor with both INDIRECT and NEXT');
        if (length === 0 || length % DESC_SIZE !== 0 || length / DESC_SIZE > MAX_QUEUE_SIZE) {
          return this.fail(`an indirect table of ${length} bytes`);
        }
        tableBase = gpa; tableCount = length / DESC_SIZE; inIndirect = true; i = 0; steps = 0;
        continue;
      }
      if (flags & VIRTQ_DESC_F_WRITE) writable.push({ gpa, length });
      else if (writable.length > 0) return this.fail('a device-readable descriptor after a device-writable one');
      else readable.push({ gpa, length });
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      i = v.getUint16(DESC_NEXT, true);
    }
    return new Chain(this, head, readable, writable);
  }

  /** Put `head` on the used ring with `written` bytes (called by its chain). */
  complete(head: number, written: number): void {
    if (this.dead) return;
    const slot = this.c.used + USED_RING + USED_ELEM_SIZE * (this.usedIdx % this.size);
    const elem = new Uint8Array(USED_ELEM_SIZE);
    const v = new DataView(elem.buffer);
    v.setUint32(USED_ELEM_ID, head, true);
    v.setUint32(USED_ELEM_LEN, written, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    // The element before the index, so the driver never sees an index covering a stale element.
    if (!this.c.dma.write(this.c.device, slot, elem) || !this.putU16(this.c.used + USED_IDX, this.usedIdx)) {
      this.fail('its used ring is outside the memory the device may write');
    }
  }

  /** Gather bytes [offset, offset + length) of `segments` through DMA. */
  gather(segments: readonly Segment[], offset: number, length: number): Uint8Array | undefined {
    // Pieces first: only bytes DMA delivered (so within guest RAM) are ever allocated, whatever lengths the driver claims.
    const pieces: Uint8Array[] = [];
    let done = 0;
    this.each(segments, offset, length, (gpa, n) => {
      const bytes = this.c.dma.read(this.c.device, gpa, n);
      if (!bytes) return false;
      pieces.push(bytes);
      done += n;
      return true;
    });
    if (done !== length) return undefined;
    if (pieces.length === 1) return pieces[0];
    const out = new Uint8Array(length);
    let at = 0;
    for (const p of pieces) { out.set(p, at); at += p.length; }
    return out;
  }

  /** Scatter `bytes` into `segments` from `offset` through DMA; false if a piece was refused. */
  scatter(segments: readonly Segment[], offset: number, bytes: Uint8Array): boolean {
    let done = 0;
    this.each(segments, offset, bytes.length, (gpa, n) => {
      if (!this.c.dma.write(this.c.device, gpa, bytes.subarray(done, done + n))) return false;
      done += n;
      return true;
    });
    return done === bytes.length;
  }

  /** Visit the pieces of [offset, offset + length) across `segments` in order until `visit` says stop. */
  private each(segments: readonly Segment[], offset: number, length: number, visit: (gpa: number, n: number) => boolean): void {
    let skip = offset, left = length;
    for (const s of segments) {
      if (left === 0) return;
      if (skip >= s.length) { skip -= s.length; continue; }
      const n = Math.min(s.length - skip, left);
      if (!visit(s.gpa + skip, n)) return;
      skip = 0;
      left -= n;
    }
  }

  private fail(reason: string): undefined {
    if (!this.dead) {
      this.dead = true;
      this.c.needsReset(`queue ${this.index}: ${reason}`);
    }
    return undefined;
  }

  private u16(gpa: number): number | undefined {
    const b = this.c.dma.read(this.c.device, gpa, 2);
    return b && (b[0] | (b[1] << 8));
  }

  private putU16(gpa: number, value: number): boolean {
    return this.c.dma.write(this.c.device, gpa, Uint8Array.of(value & 0xff, value >>> 8));
  }
}

class Chain implements DescriptorChain {
  readonly readableLength: number;
  readonly writableLength: number;
  private completed = false;

  constructor(
    private readonly queue: SplitQueue,
    readonly head: number,
    private readonly readable: readonly Segment[],
    private readonly writable: readonly Segment[],
  ) {
    this.readableLength = readable.reduce((n, s) => n + s.length, 0);
    this.writableLength = writable.reduce((n, s) => n + s.length, 0);
  }

  read(offset: number, length: number): Uint8Array | undefined {
    if (!inRange(offset, length, this.readableLength)) return undefined;
    return this.queue.gather(this.readable, offset, length);
  }

  write(offset: number, bytes: Uint8Array): boolean {
    if (!inRange(offset, bytes.length, this.writableLength)) return false;
    return this.queue.scatter(this.writable, offset, bytes);
  }

  complete(written: number): void {
    if (this.completed) throw new Error(`descriptor chain ${this.head} completed twice`);
    this.completed = true;
    const n = Number.isSafeInteger(written) && written > 0 ? Math.min(written, this.writableLength, 0xffffffff) : 0;
    this.queue.complete(this.head, n);
  }
}

function inRange(offset: number, length: number, limit: number): boolean {
  return Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= limit;
}
