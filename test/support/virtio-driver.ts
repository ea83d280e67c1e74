// A virtio driver for tests: it plays the guest's virtio_pci driver against
// the REAL transport (src/platform/virtio/pci.ts) and queue code over a real
// RAM buffer and DMA port (the core's Dmaprot, or any DmaPort), through the
// PCI function's configuration space and BAR 0 as a guest reaches them. It
// finds the structures by walking the capability list, negotiates features,
// sets up split queues, posts chains, kicks and reads the used ring; the
// raw helpers let the malformed-ring campaign (virtio-campaign.ts) lie.
import {
  AVAIL_IDX, AVAIL_RING, CAP_BAR, CAP_CFG_TYPE, CAP_NOTIFY_OFF_MULTIPLIER, CAP_OFFSET, CommonCfg, DESC_SIZE,
  PCI_CAP_ID_VENDOR, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK, USED_IDX, USED_RING,
  USED_ELEM_SIZE, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, availRingBytes, usedRingBytes,
} from '../../src/platform/virtio/layout.js';
import { PCI_CAP_ID_MSIX } from '../../src/platform/msix.js';
import { VirtioPci } from '../../src/platform/virtio/pci.js';
import type { VirtioDevice } from '../../src/platform/virtio/device.js';
import type { DmaPort } from '../../src/platform/platform.js';

/** The MSI address the driver programs (the LAPIC's window, destination 0). */
export const MSI_ADDRESS = 0xfee00000;
/** Vector of MSI-X entry i: MSI_VECTOR_BASE + i. */
export const MSI_VECTOR_BASE = 0x40;

export interface DriverQueue {
  index: number;
  size: number;
  desc: number;
  avail: number;
  used: number;
  /** Our shadow of the avail idx and how far we have read the used ring. */
  availIdx: number;
  usedSeen: number;
  /** Next free descriptor (descriptors are handed out round-robin). */
  nextDesc: number;
}

export interface UsedElem { id: number; len: number }

export class VirtioTestDriver {
  readonly transport: VirtioPci;
  /** MSI-X messages the transport sent, as vectors. */
  readonly interrupts: number[] = [];
  /** Host log lines of the transport. */
  readonly logs: string[] = [];
  readonly queues: DriverQueue[] = [];
  private common = 0; private notifyBase = 0; private notifyMultiplier = 0; private isr = 0; private deviceCfg = -1;
  private msixCap = 0; private msixTable = 0;
  /** Bump allocator for rings and buffers, from `heap` up. */
  private heapNext: number;

  constructor(readonly device: VirtioDevice, readonly ram: Uint8Array, dma: DmaPort, readonly heap = 0x10000) {
    this.heapNext = heap;
    this.transport = new VirtioPci({
      device, dma,
      msi: (address, data) => { if (address === MSI_ADDRESS) this.interrupts.push(data & 0xff); },
      log: (line) => this.logs.push(line),
    });
    this.findCapabilities();
  }

  // ---- configuration space and BAR 0, as the guest reaches them ----
  cfgRead(offset: number, size: number): number { return this.transport.pci.read(offset, size); }
  cfgWrite(offset: number, size: number, value: number): void { this.transport.pci.write(offset, size, value); }
  barRead(offset: number, size: number): number { return this.transport.pci.mmio!.read(0, offset, size); }
  barWrite(offset: number, size: number, value: number): void { this.transport.pci.mmio!.write(0, offset, size, value); }

  private findCapabilities(): void {
    for (let at = this.cfgRead(0x34, 1); at !== 0; at = this.cfgRead(at + 1, 1)) {
      const id = this.cfgRead(at, 1);
      if (id === PCI_CAP_ID_MSIX) {
        this.msixCap = at;
        this.msixTable = this.cfgRead(at + 4, 4) & ~7;
      }
      if (id !== PCI_CAP_ID_VENDOR) continue;
      if (this.cfgRead(at + CAP_BAR, 1) !== 0) throw new Error('the driver expects every structure in BAR 0');
      const offset = this.cfgRead(at + CAP_OFFSET, 4);
      switch (this.cfgRead(at + CAP_CFG_TYPE, 1)) {
        case VIRTIO_PCI_CAP_COMMON_CFG: this.common = offset; break;
        case VIRTIO_PCI_CAP_NOTIFY_CFG: this.notifyBase = offset; this.notifyMultiplier = this.cfgRead(at + CAP_NOTIFY_OFF_MULTIPLIER, 4); break;
        case VIRTIO_PCI_CAP_ISR_CFG: this.isr = offset; break;
        case VIRTIO_PCI_CAP_DEVICE_CFG: this.deviceCfg = offset; break;
      }
    }
    if (!this.msixCap) throw new Error('no MSI-X capability');
  }

  commonRead(field: number, size: number): number { return this.barRead(this.common + field, size); }
  commonWrite(field: number, size: number, value: number): void { this.barWrite(this.common + field, size, value); }
  status(): number { return this.commonRead(CommonCfg.DEVICE_STATUS, 1); }
  isrRead(): number { return this.barRead(this.isr, 1); }
  configRead(offset: number, size: number): number {
    if (this.deviceCfg < 0) throw new Error('the device has no configuration space');
    return this.barRead(this.deviceCfg + offset, size);
  }

  /** Program MSI-X entry i to vector MSI_VECTOR_BASE + i, unmasked, and enable MSI-X. */
  enableMsix(): void {
    const entries = (this.cfgRead(this.msixCap + 2, 2) & 0x7ff) + 1;
    for (let i = 0; i < entries; i++) {
      this.barWrite(this.msixTable + 16 * i, 4, MSI_ADDRESS);
      this.barWrite(this.msixTable + 16 * i + 4, 4, 0);
      this.barWrite(this.msixTable + 16 * i + 8, 4, MSI_VECTOR_BASE + i);
      this.barWrite(this.msixTable + 16 * i + 12, 4, 0);
    }
    this.cfgWrite(this.msixCap + 2, 2, 0x8000);
  }

  /** The device's offered features (both words). */
  deviceFeatures(): bigint {
    let f = 0n;
    for (const sel of [0, 1]) {
      this.commonWrite(CommonCfg.DEVICE_FEATURE_SELECT, 4, sel);
      f |= BigInt(this.commonRead(CommonCfg.DEVICE_FEATURE, 4)) << BigInt(32 * sel);
    }
    return f;
  }

  /**
   * Reset, then ACKNOWLEDGE, DRIVER, features (`want` intersected with the
   * offer; all offered by default), FEATURES_OK. Returns the negotiated
   * features, or undefined if the device refused them.
   */
  negotiate(want?: bigint): bigint | undefined {
    this.reset();
    this.commonWrite(CommonCfg.DEVICE_STATUS, 1, STATUS_ACKNOWLEDGE);
    this.commonWrite(CommonCfg.DEVICE_STATUS, 1, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    const features = want === undefined ? this.deviceFeatures() : want;
    for (const sel of [0, 1]) {
      this.commonWrite(CommonCfg.DRIVER_FEATURE_SELECT, 4, sel);
      this.commonWrite(CommonCfg.DRIVER_FEATURE, 4, Number((features >> BigInt(32 * sel)) & 0xffffffffn));
    }
    this.commonWrite(CommonCfg.DEVICE_STATUS, 1, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    return this.status() & STATUS_FEATURES_OK ? features : undefined;
  }

  reset(): void {
    this.commonWrite(CommonCfg.DEVICE_STATUS, 1, 0);
    this.queues.length = 0;
    this.heapNext = this.heap;
  }

  alloc(bytes: number, align = 16): number {
    const at = Math.ceil(this.heapNext / align) * align;
    if (at + bytes > this.ram.length) throw new Error('the test driver ran out of RAM');
    this.heapNext = at + bytes;
    return at;
  }

  /** Select queue `index`, give it `size` entries (default the device's maximum), rings in RAM, MSI-X vector index + 1, and enable it. */
  setupQueue(index: number, size?: number): DriverQueue {
    this.commonWrite(CommonCfg.QUEUE_SELECT, 2, index);
    const n = size ?? this.commonRead(CommonCfg.QUEUE_SIZE, 2);
    const q: DriverQueue = {
      index, size: n, availIdx: 0, usedSeen: 0, nextDesc: 0,
      desc: this.alloc(DESC_SIZE * n, 16), avail: this.alloc(availRingBytes(n), 2), used: this.alloc(usedRingBytes(n), 4),
    };
    this.ram.fill(0, q.desc, q.used + usedRingBytes(n));
    this.commonWrite(CommonCfg.QUEUE_SIZE, 2, n);
    for (const [field, gpa] of [[CommonCfg.QUEUE_DESC, q.desc], [CommonCfg.QUEUE_DRIVER, q.avail], [CommonCfg.QUEUE_DEVICE, q.used]]) {
      this.commonWrite(field, 4, gpa);
      this.commonWrite(field + 4, 4, 0);
    }
    this.commonWrite(CommonCfg.QUEUE_MSIX_VECTOR, 2, index + 1);
    this.commonWrite(CommonCfg.QUEUE_ENABLE, 2, 1);
    this.queues[index] = q;
    return q;
  }

  driverOk(): void {
    this.commonWrite(CommonCfg.CONFIG_MSIX_VECTOR, 2, 0);
    this.commonWrite(CommonCfg.DEVICE_STATUS, 1, this.status() | STATUS_DRIVER_OK);
  }

  /** The whole dance for `queues` queues (all the device has by default). */
  start(queueCount = this.device.queueSizes.length, want?: bigint): bigint {
    this.enableMsix();
    const features = this.negotiate(want);
    if (features === undefined) throw new Error('the device refused the features');
    for (let i = 0; i < queueCount; i++) this.setupQueue(i);
    this.driverOk();
    return features;
  }

  // ---- descriptors and rings ----

  writeDesc(q: DriverQueue, i: number, gpa: number | bigint, len: number, flags: number, next: number): void {
    const v = this.view(q.desc + DESC_SIZE * i, DESC_SIZE);
    v.setBigUint64(0, BigInt.asUintN(64, BigInt(gpa)), true);
    v.setUint32(8, len >>> 0, true);
    v.setUint16(12, flags & 0xffff, true);
    v.setUint16(14, next & 0xffff, true);
  }

  /** Put `head` in the next avail slot and publish it (avail idx + 1). */
  pushAvail(q: DriverQueue, head: number): void {
    this.view(q.avail + AVAIL_RING + 2 * (q.availIdx % q.size), 2).setUint16(0, head, true);
    q.availIdx = (q.availIdx + 1) & 0xffff;
    this.setAvailIdx(q, q.availIdx);
  }

  setAvailIdx(q: DriverQueue, idx: number): void { this.view(q.avail + AVAIL_IDX, 2).setUint16(0, idx & 0xffff, true); }

  /**
   * Post a chain of driver-readable buffers (copied into RAM) then
   * device-writable buffers of the given lengths; returns the head and the
   * writable buffers' addresses.
   */
  post(q: DriverQueue, readable: Uint8Array[], writable: number[]): { head: number; out: number[] } {
    const parts = [...readable.map((b) => ({ b, len: b.length, write: false })), ...writable.map((len) => ({ b: undefined, len, write: true }))];
    if (parts.length === 0 || parts.length > q.size) throw new Error(`a chain of ${parts.length} descriptors`);
    const ids = parts.map((_, k) => (q.nextDesc + k) % q.size);
    q.nextDesc = (q.nextDesc + parts.length) % q.size;
    const out: number[] = [];
    parts.forEach((p, k) => {
      const gpa = this.alloc(Math.max(p.len, 1), 8);
      if (p.b) this.ram.set(p.b, gpa); else out.push(gpa);
      const flags = (p.write ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < parts.length ? VIRTQ_DESC_F_NEXT : 0);
      this.writeDesc(q, ids[k], gpa, p.len, flags, ids[k + 1] ?? 0);
    });
    this.pushAvail(q, ids[0]);
    return { head: ids[0], out };
  }

  kick(q: DriverQueue | number): void {
    const index = typeof q === 'number' ? q : q.index;
    this.barWrite(this.notifyBase + index * this.notifyMultiplier, 2, index);
  }

  /** Used elements the device returned since the last call. */
  takeUsed(q: DriverQueue): UsedElem[] {
    const idx = this.view(q.used + USED_IDX, 2).getUint16(0, true);
    const out: UsedElem[] = [];
    for (; q.usedSeen !== idx; q.usedSeen = (q.usedSeen + 1) & 0xffff) {
      const e = this.view(q.used + USED_RING + USED_ELEM_SIZE * (q.usedSeen % q.size), USED_ELEM_SIZE);
      out.push({ id: e.getUint32(0, true), len: e.getUint32(4, true) });
      if (out.length > q.size) throw new Error('the used index moved by more than the queue size');
    }
    return out;
  }

  private view(gpa: number, length: number): DataView {
    return new DataView(this.ram.buffer, this.ram.byteOffset + gpa, length);
  }
}
