// virtio-9p (virtio 1.2 section 5.9 "9P transport"): one request queue; each
// chain's readable part is a whole 9P request, its writable part takes the
// reply (scattered across the buffers as they come, which is what Linux's
// 9pnet_virtio expects of its zero-copy reads: an 11-byte header buffer,
// then the pages). The configuration space is the mount tag: le16 length,
// then the tag's bytes. The 9P server (src/platform/p9) does the rest.
import type { VirtioDevice, VirtioQueues } from './device.js';
import { VirtioDeviceId } from './layout.js';
import { P9Server, type P9ServerOptions } from '../p9/server.js';
import { HEADER_SIZE, readHeader } from '../p9/protocol.js';
import { Errno } from '../p9/errno.js';

/** VIRTIO_9P_MOUNT_TAG: the configuration space holds the tag. */
const VIRTIO_9P_MOUNT_TAG = 1n << 0n;
const REQUEST_QUEUE = 0;
/** Requests in flight at most (Linux's client sizes its lists for 128, as QEMU's queue). */
const QUEUE_SIZE = 128;
/** Longest mount tag the configuration space can say (its length is a le16). */
const MAX_TAG_LENGTH = 0xffff;
/** Rlerror: size[4] type[1] tag[2] ecode[4]. */
const RLERROR_SIZE = HEADER_SIZE + 4;

export interface Virtio9pOptions extends P9ServerOptions {
  /** The host directory shared. */
  hostDir: string;
  /** The mount tag the guest names it by (`mount -t 9p TAG /mnt/TAG`). */
  tag: string;
}

export class Virtio9p implements VirtioDevice {
  readonly deviceType = VirtioDeviceId.NINEP;
  readonly features = VIRTIO_9P_MOUNT_TAG;
  readonly queueSizes = [QUEUE_SIZE];
  readonly configSize: number;
  readonly name: string;
  private readonly config: Uint8Array;
  private readonly server: P9Server;
  private queues: VirtioQueues | undefined;
  /** Requests answered, and requests dropped (unreadable, or a reply that could not be written). */
  served = 0;
  dropped = 0;

  constructor(o: Virtio9pOptions) {
    const tag = new TextEncoder().encode(o.tag);
    if (tag.length === 0 || tag.length > MAX_TAG_LENGTH) throw new Error(`a 9P mount tag is 1 to ${MAX_TAG_LENGTH} bytes: ${JSON.stringify(o.tag)}`);
    this.name = `virtio-9p:${o.tag}`;
    this.config = new Uint8Array(2 + tag.length);
    new DataView(this.config.buffer).setUint16(0, tag.length, true);
    this.config.set(tag, 2);
    this.configSize = this.config.length;
    this.server = new P9Server(o.hostDir, o);
  }

  configRead(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (this.config[offset + i] ?? 0);
    return v;
  }

  /** The tag is the device's to say; the driver does not write it. */
  configWrite(): void {}

  activate(queues: VirtioQueues): void { this.queues = queues; }

  notify(index: number): void {
    const q = index === REQUEST_QUEUE ? this.queues?.get(index) : undefined;
    if (!q) return;
    for (let chain = q.pop(); chain; chain = q.pop()) {
      const reply = this.serve(chain.readableLength, chain.writableLength, (o, n) => chain.read(o, n));
      if (reply && chain.write(0, reply)) {
        this.served++;
        chain.complete(reply.length);
      } else {
        this.dropped++;
        chain.complete(0);
      }
    }
  }

  /** The reply to the request in a chain's readable part, or undefined if none can be given (no header to answer). */
  private serve(readable: number, writable: number, read: (offset: number, length: number) => Uint8Array | undefined): Uint8Array | undefined {
    if (writable < RLERROR_SIZE) return undefined;
    const header = read(0, HEADER_SIZE);
    if (!header) return undefined;
    const { size, tag } = readHeader(header);
    // Only what the size field says is read, and never more than the negotiated msize: a lying length costs nothing.
    if (size > this.server.maxMessage) return this.server.rlerror(tag, Errno.EMSGSIZE);
    if (size < HEADER_SIZE || size > readable) return this.server.rlerror(tag, Errno.EINVAL);
    const request = read(0, size);
    if (!request) return this.server.rlerror(tag, Errno.EIO);
    return this.server.handle(request, writable);
  }

  reset(): void {
    this.queues = undefined;
    this.server.reset();
  }

  /** Let go of the shared directory (the VM ended). */
  close(): void { this.server.close(); }
}
