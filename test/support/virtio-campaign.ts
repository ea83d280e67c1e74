// The malformed-ring campaign: drives `count` chains, most of them lies
// (descriptor loops, chains longer than the queue, indices out of range,
// addresses outside RAM, 4 GiB lengths, bad indirect tables, avail idx
// jumps, doorbells of queues never set up, random descriptor bytes), through
// one device over the real virtio-pci transport and the core's real Dmaprot
// on a RAM buffer. It checks what the spec prescribes for each lie:
// DEVICE_NEEDS_RESET for a ring that cannot be followed, the chain returned
// (dropped with nothing or an error written) for buffers the device may not
// touch, nothing at all for a doorbell of a queue that does not run, and
// that no exception escapes and no access lands outside RAM. Exported for
// every device's tests (rng, vsock, blk, 9p).
import { FakeMachine } from './fake-vcpu.js';
import { Memprot } from '../../src/xmhf/memprot.js';
import { Dmaprot } from '../../src/xmhf/dmaprot.js';
import type { DmaPort } from '../../src/platform/platform.js';
import type { VirtioDevice } from '../../src/platform/virtio/device.js';
import {
  STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER_OK, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, DESC_SIZE,
} from '../../src/platform/virtio/layout.js';
import { VirtioTestDriver, type DriverQueue } from './virtio-driver.js';

export const MALFORMATIONS = [
  'loop', 'too-long', 'head-out-of-range', 'next-out-of-range', 'idx-jump', 'idx-backwards', 'read-after-write',
  'indirect-bad-length', 'indirect-nested', 'indirect-loop', 'indirect-with-next',
  'outside-ram', 'length-4g', 'doorbell-of-unset-queue', 'random-descriptors', 'valid',
] as const;
export type Malformation = typeof MALFORMATIONS[number];

/** Lies that leave the ring impossible to follow: the device must set DEVICE_NEEDS_RESET. */
const NEEDS_RESET: ReadonlySet<Malformation> = new Set<Malformation>([
  'loop', 'too-long', 'head-out-of-range', 'next-out-of-range', 'idx-jump', 'idx-backwards', 'read-after-write',
  'indirect-bad-length', 'indirect-nested', 'indirect-loop', 'indirect-with-next',
]);

/** A chain the device would accept: driver-readable buffers, then device-writable lengths. */
export interface ChainShape { readable: Uint8Array[]; writable: number[] }

export interface CampaignOptions {
  /** A fresh device (the campaign builds one transport around it). */
  device: VirtioDevice;
  count: number;
  seed?: number;
  /** Queues to attack (default: all the device has). */
  queues?: number[];
  /** A well-formed request for queue `q` (default: one 1-64 byte writable buffer). */
  chain?: (q: number, random: () => number) => ChainShape;
  /** Does the device return every chain of this queue at once? (false for receive queues that hold buffers until data comes). */
  completesAtOnce?: (q: number) => boolean;
  ramSize?: number;
}

export interface CampaignResult {
  byKind: Record<Malformation, number>;
  resets: number;
  returned: number;
  violations: number;
  /** Broken expectations (empty when the device behaved). */
  failures: string[];
}

export function malformedCampaign(o: CampaignOptions): CampaignResult {
  const ramSize = o.ramSize ?? 4 << 20;
  const machine = new FakeMachine(ramSize);
  const memprot = new Memprot(machine);
  let violations = 0;
  const dmaprot = new Dmaprot(machine, memprot, () => { violations++; });
  const failures: string[] = [];
  const fail = (m: string) => { if (failures.length < 20) failures.push(m); };
  // Watch every DMA access: one that succeeds must lie within RAM.
  const dma: DmaPort = {
    read: (device, gpa, length) => {
      const r = dmaprot.read(device, gpa, length);
      if (r && !(gpa >= 0 && gpa + length <= ramSize)) fail(`a read of [${gpa}, +${length}) outside RAM succeeded`);
      return r;
    },
    write: (device, gpa, bytes) => {
      const ok = dmaprot.write(device, gpa, bytes);
      if (ok && !(gpa >= 0 && gpa + bytes.length <= ramSize)) fail(`a write of [${gpa}, +${bytes.length}) outside RAM succeeded`);
      return ok;
    },
  };
  const driver = new VirtioTestDriver(o.device, machine.ram, dma);
  let seed = (o.seed ?? 1) >>> 0 || 1;
  const random = (): number => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 0x1_0000_0000; };
  const below = (n: number) => Math.floor(random() * n);
  const queues = o.queues ?? o.device.queueSizes.map((_, i) => i);
  const shape = o.chain ?? (() => ({ readable: [], writable: [1 + below(64)] }));
  const byKind = Object.fromEntries(MALFORMATIONS.map((k) => [k, 0])) as Record<Malformation, number>;
  let resets = 0, returned = 0, sinceStart = 0;
  /** A lie sits on a queue the device reads only when it has something to put there: it may surface with a later chain. */
  let lieWaiting = false;
  driver.start();

  for (let n = 0; n < o.count; n++) {
    // A fresh start after a reset, and now and then anyway (receive queues keep buffers; the heap fills).
    if (driver.status() & STATUS_DEVICE_NEEDS_RESET || !(driver.status() & STATUS_DRIVER_OK) || ++sinceStart > 48) {
      driver.start();
      sinceStart = 0;
      lieWaiting = false;
    }
    const kind = MALFORMATIONS[below(MALFORMATIONS.length)];
    byKind[kind]++;
    const qi = queues[below(queues.length)];
    const q = driver.queues[qi];
    let head = -1;
    try {
      head = lie(driver, q, kind, shape(qi, random), below, random);
      if (kind === 'doorbell-of-unset-queue') driver.kick(o.device.queueSizes.length + below(8));
      else driver.kick(q);
    } catch (e) {
      fail(`${kind}: ${e instanceof Error ? e.stack : String(e)}`);
      continue;
    }
    const reset = (driver.status() & STATUS_DEVICE_NEEDS_RESET) !== 0;
    let used: Array<{ id: number; len: number }> = [];
    // Random descriptors may point the device's writes at the driver's own rings: start afresh after them.
    if (kind === 'random-descriptors') sinceStart = Infinity;
    else if (!reset) {
      try { used = driver.takeUsed(q); } catch (e) { fail(`${kind}: ${String(e)}`); }
    }
    if (reset) resets++;
    returned += used.length;
    // A queue whose chains wait for data (a receive queue) is only read when there is something to put there.
    const atOnce = o.completesAtOnce?.(qi) ?? true;
    if (NEEDS_RESET.has(kind) && atOnce && !reset) fail(`${kind} on queue ${qi}: no DEVICE_NEEDS_RESET`);
    const returnable = kind === 'outside-ram' || kind === 'length-4g' || kind === 'valid';
    if (returnable && reset && !lieWaiting) fail(`${kind} on queue ${qi}: a reset for a chain the device can return`);
    if (returnable && atOnce && !reset && !used.some((u) => u.id === head)) {
      fail(`${kind} on queue ${qi}: chain ${head} was not returned`);
    }
    if (kind === 'doorbell-of-unset-queue' && reset && !lieWaiting) fail('a doorbell of a queue that does not exist reset the device');
    if (!atOnce && (NEEDS_RESET.has(kind) || kind === 'random-descriptors')) lieWaiting = true;
  }
  return { byKind, resets, returned, violations, failures };
}

/** Write the lie `kind` into queue `q` and make it available; returns the head (or -1). */
function lie(d: VirtioTestDriver, q: DriverQueue, kind: Malformation, good: ChainShape, below: (n: number) => number, random: () => number): number {
  const size = q.size;
  const buf = () => d.alloc(64, 8);
  switch (kind) {
    case 'valid': return d.post(q, good.readable, good.writable).head;
    case 'loop': {
      const a = below(size), b = (a + 1) % size;
      d.writeDesc(q, a, buf(), 16, VIRTQ_DESC_F_NEXT, b);
      d.writeDesc(q, b, buf(), 16, VIRTQ_DESC_F_NEXT, a);
      d.pushAvail(q, a);
      return a;
    }
    case 'too-long': {
      // Every descriptor chained to the next, the last back to the first: longer than the table.
      for (let i = 0; i < size; i++) d.writeDesc(q, i, buf(), 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (i + 1) % size);
      d.pushAvail(q, 0);
      return 0;
    }
    case 'head-out-of-range': { const h = size + below(0x10000 - size); d.pushAvail(q, h); return h; }
    case 'next-out-of-range': {
      const a = below(size);
      d.writeDesc(q, a, buf(), 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, size + below(0x10000 - size));
      d.pushAvail(q, a);
      return a;
    }
    case 'idx-jump': d.setAvailIdx(q, q.availIdx + size + 1 + below(0x10000 - 2 * size - 1)); return -1;
    case 'idx-backwards': d.setAvailIdx(q, q.availIdx - 1 - below(Math.min(size, 8))); return -1;
    case 'read-after-write': {
      const a = below(size), b = (a + 1) % size;
      d.writeDesc(q, a, buf(), 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, b);
      d.writeDesc(q, b, buf(), 16, 0, 0);
      d.pushAvail(q, a);
      return a;
    }
    case 'indirect-bad-length': case 'indirect-nested': case 'indirect-loop': case 'indirect-with-next': {
      const a = below(size), entries = 4, table = d.alloc(DESC_SIZE * entries, 16);
      const view = new DataView(d.ram.buffer, d.ram.byteOffset + table, DESC_SIZE * entries);
      for (let i = 0; i < entries; i++) {
        view.setBigUint64(16 * i, BigInt(buf()), true);
        view.setUint32(16 * i + 8, 16, true);
        view.setUint16(16 * i + 12, i + 1 < entries ? VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE : VIRTQ_DESC_F_WRITE, true);
        view.setUint16(16 * i + 14, i + 1, true);
      }
      let len = DESC_SIZE * entries, flags = VIRTQ_DESC_F_INDIRECT;
      if (kind === 'indirect-bad-length') len = [0, 1 + below(15), DESC_SIZE * entries + 8][below(3)];
      if (kind === 'indirect-nested') view.setUint16(16 * 1 + 12, VIRTQ_DESC_F_INDIRECT, true);
      if (kind === 'indirect-loop') view.setUint16(16 * (entries - 1) + 12, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, true), view.setUint16(16 * (entries - 1) + 14, 0, true);
      if (kind === 'indirect-with-next') flags |= VIRTQ_DESC_F_NEXT;
      d.writeDesc(q, a, table, len, flags, (a + 1) % size);
      d.pushAvail(q, a);
      return a;
    }
    case 'outside-ram': case 'length-4g': {
      // The good chain's shape, one buffer pointing past RAM (or 4 GiB long).
      const parts = [...good.readable.map((b) => ({ len: b.length, w: false })), ...good.writable.map((len) => ({ len, w: true }))];
      const bad = below(parts.length);
      const ids = parts.map((_, k) => (q.nextDesc + k) % size);
      q.nextDesc = (q.nextDesc + parts.length) % size;
      parts.forEach((p, k) => {
        let gpa: number | bigint = buf(), len = p.len;
        if (k === bad && kind === 'outside-ram') gpa = [BigInt(d.ram.length) + BigInt(below(1 << 20)), 0xffff_ffff_ffff_f000n, BigInt(d.ram.length - 8)][below(3)];
        if (k === bad && kind === 'length-4g') len = 0xffffffff;
        if (k === bad && kind === 'outside-ram' && len < 16) len = 16;
        d.writeDesc(q, ids[k], gpa, len, (p.w ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < parts.length ? VIRTQ_DESC_F_NEXT : 0), ids[k + 1] ?? 0);
      });
      d.pushAvail(q, ids[0]);
      return ids[0];
    }
    case 'doorbell-of-unset-queue': return -1;
    case 'random-descriptors': {
      const bytes = new Uint8Array(DESC_SIZE * size);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      d.ram.set(bytes, q.desc);
      const h = below(size + 4);
      d.pushAvail(q, h);
      return h;
    }
  }
}
