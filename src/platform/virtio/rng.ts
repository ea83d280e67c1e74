// virtio-rng (virtio 1.2 section 5.4): one request queue; each chain's
// device-writable part is filled with bytes from the host's CSPRNG. A buffer
// dmaprot refuses is left untouched and completes with nothing written (the
// entropy device has no status byte: zero bytes is how it says "no data").
import { randomFillSync } from 'node:crypto';
import type { VirtioDevice, VirtioQueues } from './device.js';
import { VirtioDeviceId } from './layout.js';

const REQUEST_QUEUE = 0;
const QUEUE_SIZE = 64;
/** Most bytes given for one request (Linux asks for at most a page or so; a lying length gets this much). */
const MAX_REQUEST = 64 * 1024;

export class VirtioRng implements VirtioDevice {
  readonly deviceType = VirtioDeviceId.ENTROPY;
  readonly features = 0n;
  readonly queueSizes = [QUEUE_SIZE];
  readonly configSize = 0;
  private queues: VirtioQueues | undefined;
  /** Bytes delivered to the guest, and requests refused by dmaprot. */
  delivered = 0;
  refused = 0;

  constructor(readonly name = 'virtio-rng0', private readonly fill: (bytes: Uint8Array) => void = (b) => { randomFillSync(b); }) {}

  configRead(): number { return 0; }
  configWrite(): void {}

  activate(queues: VirtioQueues): void { this.queues = queues; }

  notify(index: number): void {
    const q = index === REQUEST_QUEUE ? this.queues?.get(index) : undefined;
    if (!q) return;
    for (let chain = q.pop(); chain; chain = q.pop()) {
      const bytes = new Uint8Array(Math.min(chain.writableLength, MAX_REQUEST));
      this.fill(bytes);
      if (chain.write(0, bytes)) {
        this.delivered += bytes.length;
        chain.complete(bytes.length);
      } else {
        this.refused++;
        chain.complete(0);
      }
    }
  }

  reset(): void { this.queues = undefined; }
}
