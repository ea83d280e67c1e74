// PCI configuration mechanism 1 (ports 0xCF8 address, 0xCFC-0xCFF data) over
// bus 0, with the host bridge at 00:00.0. Functions are configuration spaces
// with BARs the guest sizes and moves (the owner hears where a BAR went) and
// a capabilities list; the host decodes the memory window below the APICs
// and hands each access to the function whose memory BAR holds it, so a BAR
// the guest moves needs no re-registration on the machine's bus.
import { allOnes, type MmioDevice, type PortDevice } from './device.js';
import { MMIO_HOLE_START } from '../backend/abi.js';

/** The PCI memory window: from the end of the RAM region to just below the IOAPIC (the DSDT's _CRS says so too). */
export const PCI_MMIO_WINDOW = { first: MMIO_HOLE_START, last: 0xfebfffff } as const;

/** Configuration-space registers this file writes. */
const CFG_COMMAND = 0x04;
const CFG_STATUS = 0x06;
const CFG_CAPABILITIES_POINTER = 0x34;
const COMMAND_MEMORY = 0x02;
const STATUS_CAPABILITIES_LIST = 0x10;
/** Capabilities live after the standard header. */
const FIRST_CAPABILITY = 0x40;

/** Accesses to a function's memory BARs (offsets are within the BAR). */
export interface BarMmio {
  read(bar: number, offset: number, size: number): number;
  write(bar: number, offset: number, size: number, value: number): void;
}

export interface Bar {
  /** Size in bytes (a power of two, at least 16 for memory and 4 for I/O). */
  size: number;
  kind: 'mem32' | 'io';
}

/** One PCI function's 256-byte configuration space. */
export class PciFunction {
  readonly config = new Uint8Array(256);
  private readonly view = new DataView(this.config.buffer);
  /** Bits the guest may change, per byte. */
  private readonly writable = new Uint8Array(256);
  /** Where the next capability goes, and the previous one's next pointer. */
  private capabilityEnd = FIRST_CAPABILITY;
  private lastCapabilityNext = CFG_CAPABILITIES_POINTER;
  private readonly watchers: Array<{ first: number; end: number; fn: () => void }> = [];
  /** The function's memory BARs' contents (unset: they read all ones and ignore writes). */
  mmio: BarMmio | undefined;

  constructor(
    ids: { vendor: number; device: number; classCode: number; revision?: number; subsystemVendor?: number; subsystem?: number },
    readonly bars: ReadonlyArray<Bar | undefined> = [],
    /** Called when the guest moves BAR `index` (address 0 while unassigned). */
    private readonly onBarMoved?: (index: number, address: number) => void,
  ) {
    this.view.setUint16(0x00, ids.vendor, true);
    this.view.setUint16(0x02, ids.device, true);
    this.view.setUint32(0x08, ((ids.classCode << 8) | (ids.revision ?? 0)) >>> 0, true);
    this.view.setUint16(0x2c, ids.subsystemVendor ?? 0, true);
    this.view.setUint16(0x2e, ids.subsystem ?? 0, true);
    this.writable[0x04] = 0x07;          // command: I/O, memory, bus master
    this.writable[0x05] = 0x04;          // command: INTx disable
    this.writable[0x0c] = 0xff;          // cache line size
    this.writable[0x0d] = 0xff;          // latency timer
    this.writable[0x3c] = 0xff;          // interrupt line
    bars.forEach((bar, i) => {
      if (!bar) return;
      if (bar.size & (bar.size - 1) || bar.size < (bar.kind === 'io' ? 4 : 16)) throw new RangeError(`BAR ${i}: bad size ${bar.size}`);
      const mask = ~(bar.size - 1) >>> 0;
      for (let b = 0; b < 4; b++) this.writable[0x10 + 4 * i + b] = (mask >>> (8 * b)) & 0xff;
      if (bar.kind === 'io') this.config[0x10 + 4 * i] = 1;
    });
  }

  /**
   * Append a capability `id` with `body` (its bytes after ID and next
   * pointer; `writable` marks the bits the guest may change). Returns its
   * offset in configuration space.
   */
  addCapability(id: number, body: Uint8Array, writable?: Uint8Array): number {
    const at = this.capabilityEnd;
    const end = at + 2 + body.length;
    if (end > 256) throw new RangeError(`PCI capability 0x${id.toString(16)} does not fit in configuration space`);
    this.config[at] = id;
    this.config.set(body, at + 2);
    if (writable) this.writable.set(writable, at + 2);
    this.config[this.lastCapabilityNext] = at;
    this.config[CFG_STATUS] |= STATUS_CAPABILITIES_LIST;
    this.lastCapabilityNext = at + 1;
    this.capabilityEnd = (end + 3) & ~3;
    return at;
  }

  /** Call `fn` after any guest write touching configuration bytes [offset, offset + length). */
  watch(offset: number, length: number, fn: () => void): void {
    this.watchers.push({ first: offset, end: offset + length, fn });
  }

  /** Memory decoding is on (command register bit 1). */
  get memoryEnabled(): boolean { return (this.config[CFG_COMMAND] & COMMAND_MEMORY) !== 0; }

  /** Firmware's part: place BAR `index` at `address` and turn on memory decoding (no owner notification: nothing moved yet). */
  placeBar(index: number, address: number): void {
    const bar = this.bars[index];
    if (!bar || bar.kind !== 'mem32') throw new RangeError(`BAR ${index} is not a 32-bit memory BAR`);
    this.view.setUint32(0x10 + 4 * index, address & ~(bar.size - 1), true);
    this.config[CFG_COMMAND] |= COMMAND_MEMORY;
  }

  /** Set the interrupt pin (1 = INTA#) the function uses. */
  setInterruptPin(pin: number): void { this.config[0x3d] = pin; }

  barAddress(index: number): number {
    const raw = this.view.getUint32(0x10 + 4 * index, true);
    return (this.bars[index]?.kind === 'io' ? raw & ~0x3 : raw & ~0xf) >>> 0;
  }

  read(offset: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.config[offset + i] << (8 * i);
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    const before = this.bars.map((_, i) => this.barAddress(i));
    for (let i = 0; i < size; i++) {
      const o = offset + i, b = (value >>> (8 * i)) & 0xff;
      this.config[o] = (this.config[o] & ~this.writable[o]) | (b & this.writable[o]);
    }
    this.bars.forEach((bar, i) => {
      if (bar && this.barAddress(i) !== before[i]) this.onBarMoved?.(i, this.barAddress(i));
    });
    for (const w of this.watchers) if (offset < w.end && w.first < offset + size) w.fn();
  }
}

/** Configuration mechanism 1 over bus 0. */
export class PciHost implements PortDevice {
  readonly name = 'pci-host';
  readonly ports = [[0xcf8, 0xcff]] as const;
  private address = 0;
  private readonly functions = new Map<number, PciFunction>();

  constructor() {
    // 00:00.0: the host bridge (Intel 440FX PMC, as QEMU's pc machine has).
    this.add(0, 0, new PciFunction({ vendor: 0x8086, device: 0x1237, classCode: 0x060000, revision: 2 }));
  }

  /**
   * The memory window as one MMIO device: each access goes to the function
   * whose enabled memory BAR holds it; nothing there reads all ones.
   */
  readonly mmio: MmioDevice = {
    name: 'pci-window',
    base: PCI_MMIO_WINDOW.first,
    size: PCI_MMIO_WINDOW.last + 1 - PCI_MMIO_WINDOW.first,
    mmioRead: (offset, size) => {
      const hit = this.barAt(PCI_MMIO_WINDOW.first + offset, size);
      return hit ? hit.f.mmio!.read(hit.bar, hit.offset, size) : allOnes(size);
    },
    mmioWrite: (offset, size, value) => {
      const hit = this.barAt(PCI_MMIO_WINDOW.first + offset, size);
      hit?.f.mmio!.write(hit.bar, hit.offset, size, value);
    },
  };
  /** Next free address of the firmware's BAR allocation. */
  private nextBar: number = PCI_MMIO_WINDOW.first;

  /** Add `f` at 00:device.fn. */
  add(device: number, fn: number, f: PciFunction): void {
    const key = (device << 3) | fn;
    if (device > 31 || fn > 7) throw new RangeError(`no PCI slot ${device}.${fn}`);
    if (this.functions.has(key)) throw new Error(`PCI slot 00:${device.toString(16)}.${fn} is taken`);
    this.functions.set(key, f);
  }

  /** Firmware's BAR assignment: each memory BAR of `f` gets the next naturally aligned free range of the window. */
  assignBars(f: PciFunction): void {
    f.bars.forEach((bar, i) => {
      if (!bar || bar.kind !== 'mem32') return;
      const at = Math.ceil(this.nextBar / bar.size) * bar.size;
      if (at + bar.size - 1 > PCI_MMIO_WINDOW.last) throw new RangeError(`no room for a ${bar.size}-byte BAR in the PCI memory window`);
      f.placeBar(i, at);
      this.nextBar = at + bar.size;
    });
  }

  private barAt(gpa: number, size: number): { f: PciFunction; bar: number; offset: number } | undefined {
    for (const f of this.functions.values()) {
      if (!f.mmio || !f.memoryEnabled) continue;
      for (let i = 0; i < f.bars.length; i++) {
        const bar = f.bars[i];
        if (bar?.kind !== 'mem32') continue;
        const base = f.barAddress(i);
        if (base !== 0 && gpa >= base && gpa + size <= base + bar.size) return { f, bar: i, offset: gpa - base };
      }
    }
    return undefined;
  }

  private selected(): { f: PciFunction; reg: number } | undefined {
    if ((this.address & 0x80000000) === 0 || ((this.address >>> 16) & 0xff) !== 0) return undefined;
    const f = this.functions.get((this.address >>> 8) & 0xff);
    return f ? { f, reg: this.address & 0xfc } : undefined;
  }

  ioRead(port: number, size: number): number {
    if (port < 0xcfc) return port === 0xcf8 && size === 4 ? this.address >>> 0 : allOnes(size);
    const s = this.selected();
    const offset = (s?.reg ?? 0) + (port - 0xcfc);
    if (!s || offset + size > 256) return allOnes(size); // no device: all ones
    return s.f.read(offset, size);
  }

  ioWrite(port: number, size: number, value: number): void {
    if (port < 0xcfc) {
      if (port === 0xcf8 && size === 4) this.address = value >>> 0;
      return;
    }
    const s = this.selected();
    const offset = (s?.reg ?? 0) + (port - 0xcfc);
    if (s && offset + size <= 256) s.f.write(offset, size, value);
  }
}
