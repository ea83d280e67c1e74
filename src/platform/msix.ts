// MSI-X (PCI Local Bus 3.0 section 6.8.2): a function's table of message
// address/data pairs, its pending-bit array, and the capability that points
// at them. An interrupt is a memory write of `data` to `address`, which the
// PC routes to the local APIC (interrupts.ts msi). A masked vector (its
// entry or the whole function) is remembered in the PBA and sent on unmask.

/** Capability ID and register offsets within the capability. */
export const PCI_CAP_ID_MSIX = 0x11;
export const MSIX_CAP_LEN = 12;
const CAP_CONTROL = 2;
const CAP_TABLE = 4;
const CAP_PBA = 8;
/** Message Control bits. */
const CONTROL_ENABLE = 0x8000;
const CONTROL_FUNCTION_MASK = 0x4000;
/** One table entry: address low, address high, data, vector control (bit 0: masked). */
export const MSIX_ENTRY_SIZE = 16;
const ENTRY_DATA = 8;
const ENTRY_CONTROL = 12;
const ENTRY_MASKED = 1;

export interface MsixOptions {
  vectors: number;
  /** BAR holding the table and the PBA, and their offsets in it (8-byte aligned). */
  bar: number;
  tableOffset: number;
  pbaOffset: number;
  /** Deliver a message (address, data) to the interrupt controllers. */
  send: (address: number, data: number) => void;
}

export class Msix {
  readonly vectors: number;
  private readonly table: Uint8Array;
  private readonly view: DataView;
  private readonly pending: Uint8Array;
  private control = 0;

  constructor(private readonly o: MsixOptions) {
    if (!Number.isInteger(o.vectors) || o.vectors < 1 || o.vectors > 2048) throw new RangeError(`MSI-X: ${o.vectors} vectors`);
    this.vectors = o.vectors;
    this.table = new Uint8Array(o.vectors * MSIX_ENTRY_SIZE);
    this.view = new DataView(this.table.buffer);
    this.pending = new Uint8Array(Math.ceil(o.vectors / 64) * 8);
    this.reset();
  }

  get tableBytes(): number { return this.table.length; }
  get pbaBytes(): number { return this.pending.length; }
  get enabled(): boolean { return (this.control & CONTROL_ENABLE) !== 0; }

  /** Power-on state: disabled, every entry masked and zero. */
  reset(): void {
    this.table.fill(0);
    for (let v = 0; v < this.vectors; v++) this.view.setUint32(v * MSIX_ENTRY_SIZE + ENTRY_CONTROL, ENTRY_MASKED, true);
    this.pending.fill(0);
    this.control = 0;
  }

  /** The capability's bytes after ID and next pointer, and which bits of them the guest may write. */
  capability(): { bytes: Uint8Array; writable: Uint8Array } {
    const bytes = new Uint8Array(MSIX_CAP_LEN - 2);
    const v = new DataView(bytes.buffer);
    v.setUint16(CAP_CONTROL - 2, this.vectors - 1, true);
    v.setUint32(CAP_TABLE - 2, this.o.tableOffset | this.o.bar, true);
    v.setUint32(CAP_PBA - 2, this.o.pbaOffset | this.o.bar, true);
    const writable = new Uint8Array(MSIX_CAP_LEN - 2);
    writable[CAP_CONTROL - 2 + 1] = (CONTROL_ENABLE | CONTROL_FUNCTION_MASK) >>> 8;
    return { bytes, writable };
  }

  /** The guest wrote Message Control (the PCI layer keeps the bytes; this keeps the meaning). */
  controlWritten(value: number): void {
    this.control = value & (CONTROL_ENABLE | CONTROL_FUNCTION_MASK);
    this.sendPending();
  }

  /** Raise vector `vector`: sent now, or kept pending while masked. False if MSI-X is off or there is no such vector. */
  fire(vector: number): boolean {
    if (!this.enabled || !Number.isInteger(vector) || vector < 0 || vector >= this.vectors) return false;
    if (this.masked(vector)) this.pending[vector >> 3] |= 1 << (vector & 7);
    else this.send(vector);
    return true;
  }

  tableRead(offset: number, size: number): number {
    if (offset + size > this.table.length) return 0;
    return readLe(this.table, offset, size);
  }

  tableWrite(offset: number, size: number, value: number): void {
    if (offset + size > this.table.length) return;
    writeLe(this.table, offset, size, value);
    this.sendPending();
  }

  pbaRead(offset: number, size: number): number {
    return offset + size > this.pending.length ? 0 : readLe(this.pending, offset, size);
  }

  private masked(vector: number): boolean {
    return (this.control & CONTROL_FUNCTION_MASK) !== 0 ||
      (this.view.getUint32(vector * MSIX_ENTRY_SIZE + ENTRY_CONTROL, true) & ENTRY_MASKED) !== 0;
  }

  private send(vector: number): void {
    const e = vector * MSIX_ENTRY_SIZE;
    // Upper address bits are not decoded: the interrupt window is below 4 GiB.
    this.o.send(this.view.getUint32(e, true), this.view.getUint32(e + ENTRY_DATA, true));
  }

  private sendPending(): void {
    if (!this.enabled) return;
    for (let v = 0; v < this.vectors; v++) {
      if ((this.pending[v >> 3] & (1 << (v & 7))) === 0 || this.masked(v)) continue;
      this.pending[v >> 3] &= ~(1 << (v & 7));
      this.send(v);
    }
  }
}

function readLe(bytes: Uint8Array, offset: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v |= bytes[offset + i] << (8 * i);
  return v >>> 0;
}

function writeLe(bytes: Uint8Array, offset: number, size: number, value: number): void {
  for (let i = 0; i < size; i++) bytes[offset + i] = (value >>> (8 * i)) & 0xff;
}
