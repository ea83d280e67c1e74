// A descriptor chain for device unit tests: the driver-readable bytes and a
// device-writable buffer, with ranges of either that "dmaprot" refuses (a
// refused access touches nothing, as the real queue's chains behave). The
// end-to-end tests drive devices through the real transport and queue.
import type { DescriptorChain, VirtioQueues, Virtqueue } from '../../src/platform/virtio/device.js';

export interface Refusals {
  /** Byte ranges [start, end) of the readable part that cannot be read. */
  read?: Array<[number, number]>;
  /** Byte ranges [start, end) of the writable part that cannot be written. */
  write?: Array<[number, number]>;
}

const overlaps = (ranges: Array<[number, number]> | undefined, start: number, end: number) =>
  (ranges ?? []).some(([a, b]) => start < b && a < end);

export class TestChain implements DescriptorChain {
  readonly head = 0;
  readonly writable: Uint8Array;
  /** The `written` count complete() was called with (undefined until then). */
  used: number | undefined;

  constructor(readonly readable: Uint8Array, writableLength: number, private readonly refuse: Refusals = {}) {
    this.writable = new Uint8Array(writableLength);
  }

  get readableLength(): number { return this.readable.length; }
  get writableLength(): number { return this.writable.length; }
  /** The last byte of the writable part (virtio-blk's status). */
  get status(): number { return this.writable[this.writable.length - 1]; }

  read(offset: number, length: number): Uint8Array | undefined {
    if (offset < 0 || length < 0 || offset + length > this.readable.length || overlaps(this.refuse.read, offset, offset + length)) return undefined;
    return this.readable.slice(offset, offset + length);
  }

  write(offset: number, bytes: Uint8Array): boolean {
    if (offset < 0 || offset + bytes.length > this.writable.length || overlaps(this.refuse.write, offset, offset + bytes.length)) return false;
    this.writable.set(bytes, offset);
    return true;
  }

  complete(written: number): void {
    if (this.used !== undefined) throw new Error('chain completed twice');
    this.used = written;
  }
}

/** Queues holding `chains` on queue 0, for a device's activate(). */
export function testQueues(chains: DescriptorChain[], size = 256): VirtioQueues & { resets: string[] } {
  const queue: Virtqueue = { index: 0, size, pop: () => chains.shift(), flush: () => {} };
  const resets: string[] = [];
  return { resets, get: (i) => (i === 0 ? queue : undefined), configChanged: () => {}, needsReset: (r) => { resets.push(r); } };
}
