// The virtio-pci "modern" transport (virtio 1.2 section 4.1): one PCI
// function per VirtioDevice, with the common, notify, ISR and device
// configuration structures in one 32-bit memory BAR that firmware places in
// the PCI window, feature negotiation, device reset, queue setup and
// notifications. Interrupts are MSI-X, one vector per queue plus one for
// configuration changes: it is what Linux's virtio_pci asks for first, the
// messages go straight to the local APIC, and it needs no interrupt routing
// in the DSDT (no _PRT, no IOAPIC pin sharing, no ISR read per interrupt).
// The function has no INTx pin; a driver that does not enable MSI-X gets no
// interrupts (only the ISR bits), which no Linux since 2.6.x would do.
import { PciFunction } from '../pci.js';
import { Msix, PCI_CAP_ID_MSIX } from '../msix.js';
import type { DmaPort } from '../platform.js';
import type { VirtioDevice, VirtioQueues, Virtqueue } from './device.js';
import { SplitQueue } from './queue.js';
import {
  AVAIL_ALIGN, CAP_BAR, CAP_CFG_TYPE, CAP_ID, CAP_LEN, CAP_LENGTH, CAP_NOTIFY_OFF_MULTIPLIER, CAP_OFFSET, CommonCfg,
  DESC_ALIGN, ISR_CONFIG, ISR_QUEUE, MAX_QUEUE_SIZE, PCI_CAP_ID_VENDOR, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER_OK,
  STATUS_FEATURES_OK, USED_ALIGN, VIRTIO_CAP_LEN, VIRTIO_F_VERSION_1, VIRTIO_MSI_NO_VECTOR, VIRTIO_NOTIFY_CAP_LEN,
  VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_DEVICE_BASE, VIRTIO_PCI_REVISION, VIRTIO_PCI_SUBSYSTEM, VIRTIO_PCI_VENDOR, VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC, virtioPciClass,
} from './layout.js';

/** Our layout of BAR 0 (a choice of this transport; the capabilities tell the driver). */
export const VIRTIO_BAR = 0;
export const VirtioBarLayout = {
  COMMON: 0x0000,
  ISR: 0x1000,
  DEVICE: 0x2000,
  NOTIFY: 0x3000,
  MSIX_TABLE: 0x4000,
  MSIX_PBA: 0x6000,
  SIZE: 0x8000,
} as const;
/** Queue i's doorbell is at NOTIFY + i * NOTIFY_MULTIPLIER (queue_notify_off = i). */
export const NOTIFY_MULTIPLIER = 4;
/** What the transport implements of the ring, offered with every device's own features. */
export const TRANSPORT_FEATURES = VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC | VIRTIO_RING_F_EVENT_IDX;

export interface VirtioPciOptions {
  device: VirtioDevice;
  /** The core's DMA port: the device's only way into guest RAM. */
  dma: DmaPort;
  /** Deliver an MSI (address, data) to the interrupt controllers. */
  msi: (address: number, data: number) => void;
  /** Host log (a driver that broke the rules, once per device). */
  log: (line: string) => void;
}

/** One queue's registers as the driver programs them. */
interface QueueRegs {
  max: number;
  size: number;
  vector: number;
  enabled: boolean;
  desc: number;
  driver: number;
  device: number;
  live: SplitQueue | undefined;
}

export class VirtioPci {
  readonly pci: PciFunction;
  readonly offered: bigint;
  private readonly device: VirtioDevice;
  private readonly msix: Msix;
  private readonly queues: QueueRegs[];
  private status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = 0n;
  private negotiated = 0n;
  private queueSelect = 0;
  private configVector = VIRTIO_MSI_NO_VECTOR;
  private generation = 0;
  private isr = 0;
  /** Between activate and reset (and not after needsReset). */
  private active = false;
  /** needsReset was reported to the host log (once per device). */
  private reported = 0;

  constructor(private readonly o: VirtioPciOptions) {
    const d = o.device;
    this.device = d;
    if (d.queueSizes.length === 0 || d.queueSizes.some((s) => !isQueueSize(s))) {
      throw new RangeError(`${d.name}: queue sizes must be powers of two up to ${MAX_QUEUE_SIZE}`);
    }
    if (d.configSize > VirtioBarLayout.NOTIFY - VirtioBarLayout.DEVICE) throw new RangeError(`${d.name}: configuration space too large`);
    this.offered = d.features | TRANSPORT_FEATURES;
    this.queues = d.queueSizes.map((max) => ({ max, size: max, vector: VIRTIO_MSI_NO_VECTOR, enabled: false, desc: 0, driver: 0, device: 0, live: undefined }));
    this.pci = new PciFunction({
      vendor: VIRTIO_PCI_VENDOR,
      device: VIRTIO_PCI_DEVICE_BASE + d.deviceType,
      classCode: virtioPciClass(d.deviceType),
      revision: VIRTIO_PCI_REVISION,
      subsystemVendor: VIRTIO_PCI_VENDOR,
      subsystem: VIRTIO_PCI_SUBSYSTEM,
    }, [{ size: VirtioBarLayout.SIZE, kind: 'mem32' }]);
    this.msix = new Msix({
      vectors: this.queues.length + 1,
      bar: VIRTIO_BAR,
      tableOffset: VirtioBarLayout.MSIX_TABLE,
      pbaOffset: VirtioBarLayout.MSIX_PBA,
      send: o.msi,
    });
    if (this.msix.tableBytes > VirtioBarLayout.MSIX_PBA - VirtioBarLayout.MSIX_TABLE) throw new RangeError(`${d.name}: too many queues`);
    this.addVirtioCap(VIRTIO_PCI_CAP_COMMON_CFG, VirtioBarLayout.COMMON, CommonCfg.SIZE);
    this.addVirtioCap(VIRTIO_PCI_CAP_NOTIFY_CFG, VirtioBarLayout.NOTIFY, this.queues.length * NOTIFY_MULTIPLIER, NOTIFY_MULTIPLIER);
    this.addVirtioCap(VIRTIO_PCI_CAP_ISR_CFG, VirtioBarLayout.ISR, 1);
    if (d.configSize > 0) this.addVirtioCap(VIRTIO_PCI_CAP_DEVICE_CFG, VirtioBarLayout.DEVICE, d.configSize);
    const cap = this.msix.capability();
    const at = this.pci.addCapability(PCI_CAP_ID_MSIX, cap.bytes, cap.writable);
    this.pci.watch(at + 2, 2, () => this.msix.controlWritten(this.pci.read(at + 2, 2)));
    this.pci.mmio = {
      read: (_bar, offset, size) => this.barRead(offset, size),
      write: (_bar, offset, size, value) => this.barWrite(offset, size, value),
    };
  }

  /** The device status byte (for tests and reports). */
  get deviceStatus(): number { return this.status; }

  private addVirtioCap(type: number, offset: number, length: number, multiplier?: number): void {
    const len = multiplier === undefined ? VIRTIO_CAP_LEN : VIRTIO_NOTIFY_CAP_LEN;
    const cap = new Uint8Array(len);
    const v = new DataView(cap.buffer);
    cap[CAP_LEN] = len;
    cap[CAP_CFG_TYPE] = type;
    cap[CAP_BAR] = VIRTIO_BAR;
    cap[CAP_ID] = 0;
    v.setUint32(CAP_OFFSET, offset, true);
    v.setUint32(CAP_LENGTH, length, true);
    if (multiplier !== undefined) v.setUint32(CAP_NOTIFY_OFF_MULTIPLIER, multiplier, true);
    this.pci.addCapability(PCI_CAP_ID_VENDOR, cap.subarray(2));
  }

  // ---- BAR 0 ----

  private barRead(offset: number, size: number): number {
    const L = VirtioBarLayout;
    if (offset < L.COMMON + CommonCfg.SIZE) return readBytes(this.commonSnapshot(), offset - L.COMMON, size);
    if (offset === L.ISR) { const v = this.isr; this.isr = 0; return v; }
    if (offset >= L.DEVICE && offset < L.NOTIFY) {
      const at = offset - L.DEVICE;
      return at + size <= this.device.configSize ? this.device.configRead(at, size) >>> 0 : 0;
    }
    if (offset >= L.MSIX_TABLE && offset < L.MSIX_PBA) return this.msix.tableRead(offset - L.MSIX_TABLE, size);
    if (offset >= L.MSIX_PBA) return this.msix.pbaRead(offset - L.MSIX_PBA, size);
    return 0;
  }

  private barWrite(offset: number, size: number, value: number): void {
    const L = VirtioBarLayout;
    if (offset < L.COMMON + CommonCfg.SIZE) this.commonWrite(offset - L.COMMON, size, value);
    else if (offset >= L.DEVICE && offset < L.NOTIFY) {
      const at = offset - L.DEVICE;
      if (at + size <= this.device.configSize) this.device.configWrite(at, size, value);
    } else if (offset >= L.NOTIFY && offset < L.MSIX_TABLE) {
      if ((offset - L.NOTIFY) % NOTIFY_MULTIPLIER === 0) this.notify((offset - L.NOTIFY) / NOTIFY_MULTIPLIER);
    } else if (offset >= L.MSIX_TABLE && offset < L.MSIX_PBA) this.msix.tableWrite(offset - L.MSIX_TABLE, size, value);
  }

  // ---- common configuration ----

  /** The common configuration structure as the driver would read it now. */
  private commonSnapshot(): Uint8Array {
    const b = new Uint8Array(CommonCfg.SIZE);
    const v = new DataView(b.buffer);
    const q = this.queues[this.queueSelect];
    const word = (features: bigint, select: number) => (select < 2 ? Number((features >> BigInt(32 * select)) & 0xffffffffn) : 0);
    v.setUint32(CommonCfg.DEVICE_FEATURE_SELECT, this.deviceFeatureSelect, true);
    v.setUint32(CommonCfg.DEVICE_FEATURE, word(this.offered, this.deviceFeatureSelect), true);
    v.setUint32(CommonCfg.DRIVER_FEATURE_SELECT, this.driverFeatureSelect, true);
    v.setUint32(CommonCfg.DRIVER_FEATURE, word(this.driverFeatures, this.driverFeatureSelect), true);
    v.setUint16(CommonCfg.CONFIG_MSIX_VECTOR, this.configVector, true);
    v.setUint16(CommonCfg.NUM_QUEUES, this.queues.length, true);
    v.setUint8(CommonCfg.DEVICE_STATUS, this.status);
    v.setUint8(CommonCfg.CONFIG_GENERATION, this.generation);
    v.setUint16(CommonCfg.QUEUE_SELECT, this.queueSelect, true);
    if (q) {
      v.setUint16(CommonCfg.QUEUE_SIZE, q.size, true);
      v.setUint16(CommonCfg.QUEUE_MSIX_VECTOR, q.vector, true);
      v.setUint16(CommonCfg.QUEUE_ENABLE, q.enabled ? 1 : 0, true);
      v.setUint16(CommonCfg.QUEUE_NOTIFY_OFF, this.queueSelect, true);
      setU64(v, CommonCfg.QUEUE_DESC, q.desc);
      setU64(v, CommonCfg.QUEUE_DRIVER, q.driver);
      setU64(v, CommonCfg.QUEUE_DEVICE, q.device);
    } else {
      v.setUint16(CommonCfg.QUEUE_MSIX_VECTOR, VIRTIO_MSI_NO_VECTOR, true);
    }
    return b;
  }

  /**
   * A write of any width into the structure: patch the snapshot, then apply
   * each field it touched (so 64-bit addresses written as two halves work).
   */
  private commonWrite(offset: number, size: number, value: number): void {
    const b = this.commonSnapshot();
    if (offset + size > b.length) return;
    for (let i = 0; i < size; i++) b[offset + i] = (value >>> (8 * i)) & 0xff;
    const v = new DataView(b.buffer);
    const touched = (field: number, width: number) => offset < field + width && field < offset + size;
    const C = CommonCfg;
    const q = this.queues[this.queueSelect];
    // Queue setup is frozen once the queue is enabled (section 4.1.4.3.2); features once FEATURES_OK is set.
    const queueWritable = q !== undefined && !q.enabled;
    if (touched(C.DEVICE_FEATURE_SELECT, 4)) this.deviceFeatureSelect = v.getUint32(C.DEVICE_FEATURE_SELECT, true);
    if (touched(C.DRIVER_FEATURE_SELECT, 4)) this.driverFeatureSelect = v.getUint32(C.DRIVER_FEATURE_SELECT, true);
    if (touched(C.DRIVER_FEATURE, 4) && this.driverFeatureSelect < 2 && !(this.status & STATUS_FEATURES_OK)) {
      const shift = BigInt(32 * this.driverFeatureSelect);
      this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(v.getUint32(C.DRIVER_FEATURE, true)) << shift);
    }
    if (touched(C.CONFIG_MSIX_VECTOR, 2)) this.configVector = this.vectorOrNone(v.getUint16(C.CONFIG_MSIX_VECTOR, true));
    if (touched(C.QUEUE_SELECT, 2)) this.queueSelect = v.getUint16(C.QUEUE_SELECT, true);
    if (q && touched(C.QUEUE_MSIX_VECTOR, 2)) q.vector = this.vectorOrNone(v.getUint16(C.QUEUE_MSIX_VECTOR, true));
    if (queueWritable) {
      if (touched(C.QUEUE_SIZE, 2)) q.size = v.getUint16(C.QUEUE_SIZE, true);
      if (touched(C.QUEUE_DESC, 8)) q.desc = getU64(v, C.QUEUE_DESC);
      if (touched(C.QUEUE_DRIVER, 8)) q.driver = getU64(v, C.QUEUE_DRIVER);
      if (touched(C.QUEUE_DEVICE, 8)) q.device = getU64(v, C.QUEUE_DEVICE);
      if (touched(C.QUEUE_ENABLE, 2) && v.getUint16(C.QUEUE_ENABLE, true) === 1) this.enableQueue(this.queueSelect);
    }
    if (touched(C.DEVICE_STATUS, 1)) this.writeStatus(v.getUint8(C.DEVICE_STATUS));
  }

  /** A vector the table has, or NO_VECTOR (which the driver reads back to learn it was refused). */
  private vectorOrNone(vector: number): number {
    return vector < this.msix.vectors ? vector : VIRTIO_MSI_NO_VECTOR;
  }

  private writeStatus(value: number): void {
    if (value === 0) { this.reset(); return; }
    const old = this.status;
    let next = value | (old & STATUS_DEVICE_NEEDS_RESET);
    if ((next & STATUS_FEATURES_OK) && !(old & STATUS_FEATURES_OK)) {
      // FEATURES_OK sticks only for a subset of what we offered that includes VERSION_1 (section 3.1.1).
      const ok = (this.driverFeatures & ~this.offered) === 0n && (this.driverFeatures & VIRTIO_F_VERSION_1) !== 0n;
      if (ok) this.negotiated = this.driverFeatures;
      else next &= ~STATUS_FEATURES_OK;
    }
    this.status = next;
    if ((next & STATUS_DRIVER_OK) && !(old & STATUS_DRIVER_OK)) this.activate();
  }

  private enableQueue(index: number): void {
    const q = this.queues[index];
    q.enabled = true;
    if (this.active) this.startQueue(index);
  }

  private activate(): void {
    if (!(this.status & STATUS_FEATURES_OK)) { this.needsReset('DRIVER_OK without FEATURES_OK'); return; }
    this.active = true;
    for (let i = 0; i < this.queues.length && this.active; i++) if (this.queues[i].enabled) this.startQueue(i);
    if (this.active) this.device.activate(this.queueView(), this.negotiated);
  }

  /** Check queue `index`'s registers and put it to work. */
  private startQueue(index: number): void {
    const q = this.queues[index];
    if (!isQueueSize(q.size) || q.size > q.max) { this.needsReset(`queue ${index}: size ${q.size} (at most ${q.max}, a power of two)`); return; }
    if (q.desc % DESC_ALIGN || q.driver % AVAIL_ALIGN || q.device % USED_ALIGN) { this.needsReset(`queue ${index}: misaligned rings`); return; }
    q.live = new SplitQueue({
      index,
      size: q.size,
      desc: q.desc,
      avail: q.driver,
      used: q.device,
      eventIdx: (this.negotiated & VIRTIO_RING_F_EVENT_IDX) !== 0n,
      indirect: (this.negotiated & VIRTIO_RING_F_INDIRECT_DESC) !== 0n,
      device: this.device.name,
      dma: this.o.dma,
      needsReset: (reason) => this.needsReset(reason),
      interrupt: () => this.interrupt(q.vector, ISR_QUEUE),
    });
  }

  private queueView(): VirtioQueues {
    return {
      get: (index: number): Virtqueue | undefined => (this.active ? this.queues[index]?.live : undefined),
      configChanged: () => {
        this.generation = (this.generation + 1) & 0xff;
        this.interrupt(this.configVector, ISR_CONFIG);
      },
      needsReset: (reason: string) => this.needsReset(reason),
    };
  }

  /** A driver's doorbell: queue `index` has new buffers. Ignored for a queue that is not running. */
  private notify(index: number): void {
    const q = this.queues[index]?.live;
    if (!this.active || !q) return;
    this.device.notify(index);
    q.flush();
  }

  private interrupt(vector: number, isrBit: number): void {
    this.isr |= isrBit;
    if (vector !== VIRTIO_MSI_NO_VECTOR) this.msix.fire(vector);
  }

  /** Section 2.1.2: stop, set DEVICE_NEEDS_RESET and tell the driver through a configuration interrupt. */
  private needsReset(reason: string): void {
    if (!this.active && (this.status & STATUS_DEVICE_NEEDS_RESET)) return;
    if (this.reported++ === 0) this.o.log(`${this.device.name}: the guest's driver broke the virtio rules (${reason}); the device needs a reset`);
    this.stopQueues();
    this.device.reset();
    this.status |= STATUS_DEVICE_NEEDS_RESET;
    this.interrupt(this.configVector, ISR_CONFIG);
  }

  private stopQueues(): void {
    this.active = false;
    for (const q of this.queues) { q.live?.retire(); q.live = undefined; }
  }

  /** Device reset (status 0 written): everything but the PCI function's own registers (BARs, MSI-X) returns to its initial state. */
  private reset(): void {
    const wasActive = this.active;
    this.stopQueues();
    if (wasActive || this.status !== 0) this.device.reset();
    this.status = 0;
    this.deviceFeatureSelect = this.driverFeatureSelect = 0;
    this.driverFeatures = this.negotiated = 0n;
    this.queueSelect = 0;
    this.configVector = VIRTIO_MSI_NO_VECTOR;
    this.isr = 0;
    for (const q of this.queues) Object.assign(q, { size: q.max, vector: VIRTIO_MSI_NO_VECTOR, enabled: false, desc: 0, driver: 0, device: 0 });
  }

  /** How many times the driver broke the rules (each time the device needed a reset). */
  get needsResetCount(): number { return this.reported; }
}

function isQueueSize(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n <= MAX_QUEUE_SIZE && (n & (n - 1)) === 0;
}

function readBytes(b: Uint8Array, offset: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size && offset + i < b.length; i++) v |= b[offset + i] << (8 * i);
  return v >>> 0;
}

function setU64(v: DataView, at: number, value: number): void {
  v.setUint32(at, value % 0x1_0000_0000, true);
  v.setUint32(at + 4, Math.floor(value / 0x1_0000_0000) % 0x1_0000_0000, true);
}

function getU64(v: DataView, at: number): number {
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * 0x1_0000_0000;
}
