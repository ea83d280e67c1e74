// PCI configuration mechanism 1 (ports 0xCF8 address, 0xCFC-0xCFF data) over
// bus 0, with the host bridge at 00:00.0. Functions are configuration spaces
// with BARs the guest sizes and moves; the owner hears where a BAR went.
import { allOnes, type PortDevice } from './device.js';

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

  add(device: number, fn: number, f: PciFunction): void {
    const key = (device << 3) | fn;
    if (device > 31 || fn > 7) throw new RangeError(`no PCI slot ${device}.${fn}`);
    if (this.functions.has(key)) throw new Error(`PCI slot 00:${device.toString(16)}.${fn} is taken`);
    this.functions.set(key, f);
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
