// ACPI tables describing exactly the machine we emulate: RSDP -> XSDT ->
// FADT (with FACS and DSDT) and MADT. Power-off goes through the PM1a control
// register (the DSDT's \_S5 gives SLP_TYP 5); reset through the i8042. The
// DSDT names the PCI host bridge, without which an ACPI kernel finds no PCI.
import { PCI_MMIO_WINDOW } from './pci.js';
import { device, dwordMemory, eisaId, integer, ioPort, name, packageOf, resourceTemplate, scope, wordBusNumber, wordIo } from './aml.js';

/** Fixed-hardware ports of our power-management block (served by the platform). */
export const PM1A_EVT_PORT = 0x600;
export const PM1A_CNT_PORT = 0x604;
/** The ACPI PM timer: 3.579545 MHz, 32 bits wide. */
export const PM_TMR_PORT = 0x608;
/** SLP_TYP the guest writes into PM1a_CNT for S5 (soft off), from \_S5. */
export const SLP_TYP_S5 = 5;
export const SLP_EN = 1 << 13;
export const SCI_IRQ = 9;

export interface AcpiConfig {
  /** Guest-physical address where the tables go (the RSDP first, 16-byte aligned). */
  base: number;
  cpus: number;
  lapicBase?: number;
  ioapicBase?: number;
  ioapicId?: number;
}

export interface AcpiTables {
  /** Bytes to copy to guest RAM at `base`. */
  image: Uint8Array;
  rsdpAddr: number;
}

const OEM_ID = 'XMHFTS';
const OEM_TABLE_ID = 'XMHF-TS ';

class Writer {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(size: number) { this.bytes = new Uint8Array(size); this.view = new DataView(this.bytes.buffer); }
  ascii(off: number, s: string): void { for (let i = 0; i < s.length; i++) this.bytes[off + i] = s.charCodeAt(i); }
  u8(off: number, v: number): void { this.view.setUint8(off, v); }
  u16(off: number, v: number): void { this.view.setUint16(off, v, true); }
  u32(off: number, v: number): void { this.view.setUint32(off, v >>> 0, true); }
  u64(off: number, v: number): void { this.view.setBigUint64(off, BigInt(v), true); }
  /** A Generic Address Structure for a system I/O register. */
  gasIo(off: number, port: number, bits: number): void {
    this.u8(off, 1); this.u8(off + 1, bits); this.u8(off + 2, 0); this.u8(off + 3, bits <= 8 ? 1 : bits <= 16 ? 2 : 3);
    this.u64(off + 4, port);
  }
}

function checksum(bytes: Uint8Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum = (sum + bytes[i]) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** A table with the standard 36-byte header; `body` fills the rest. */
function table(signature: string, revision: number, length: number, body: (w: Writer) => void): Uint8Array {
  const w = new Writer(length);
  w.ascii(0, signature);
  w.u32(4, length);
  w.u8(8, revision);
  w.ascii(10, OEM_ID);
  w.ascii(16, OEM_TABLE_ID);
  w.u32(24, 1);
  w.ascii(28, 'XMHF');
  w.u32(32, 1);
  body(w);
  w.u8(9, checksum(w.bytes, 0, length));
  return w.bytes;
}

/**
 * \_SB.PCI0: the host bridge behind configuration mechanism 1, decoding bus 0,
 * all I/O ports but its own 0xCF8-0xCFF, and the MMIO window below the APICs.
 * Name (\_S5, Package (4) { 5, 5, 0, 0 }) gives the S5 sleep type.
 */
function dsdtAml(): number[] {
  return [
    ...scope('\\_SB', [
      device('PCI0', [
        name('_HID', eisaId('PNP0A03')),
        name('_UID', integer(0)),
        name('_BBN', integer(0)),
        name('_CRS', resourceTemplate([
          wordBusNumber(0, 0xff),
          ioPort(0xcf8, 0xcf8, 1, 8),
          wordIo(0x0000, 0x0cf7),
          wordIo(0x0d00, 0xffff),
          dwordMemory(PCI_MMIO_WINDOW.first, PCI_MMIO_WINDOW.last),
        ])),
      ]),
    ]),
    ...name('\\_S5', packageOf([integer(SLP_TYP_S5), integer(SLP_TYP_S5), integer(0), integer(0)])),
  ];
}

function dsdt(): Uint8Array {
  const aml = dsdtAml();
  return table('DSDT', 2, 36 + aml.length, (w) => w.bytes.set(aml, 36));
}

function facs(): Uint8Array {
  const w = new Writer(64);
  w.ascii(0, 'FACS');
  w.u32(4, 64);
  w.u8(32, 2); // version
  return w.bytes;
}

function fadt(facsAddr: number, dsdtAddr: number): Uint8Array {
  return table('FACP', 6, 276, (w) => {
    w.u32(36, facsAddr);
    w.u32(40, dsdtAddr);
    w.u16(46, SCI_IRQ);
    w.u32(56, PM1A_EVT_PORT);
    w.u32(64, PM1A_CNT_PORT);
    w.u32(76, PM_TMR_PORT);
    w.u8(88, 4);                      // PM1_EVT_LEN
    w.u8(89, 2);                      // PM1_CNT_LEN
    w.u8(91, 4);                      // PM_TMR_LEN
    w.u16(96, 101);                   // no C2
    w.u16(98, 1001);                  // no C3
    w.u8(108, 0x32);                  // CMOS century register
    w.u16(109, 0x7);                  // IAPC_BOOT_ARCH: legacy devices, 8042, no VGA
    // Flags: WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON absent, TMR_VAL_EXT (32-bit PM timer), RESET_REG_SUP.
    w.u32(112, (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 10));
    w.gasIo(116, 0x64, 8);            // RESET_REG: the i8042 pulse
    w.u8(128, 0xfe);                  // RESET_VALUE
    w.u8(131, 3);                     // FADT minor version (6.3)
    w.u64(132, facsAddr);
    w.u64(140, dsdtAddr);
    w.gasIo(148, PM1A_EVT_PORT, 32);
    w.gasIo(172, PM1A_CNT_PORT, 16);
    w.gasIo(208, PM_TMR_PORT, 32);
  });
}

function madt(cfg: Required<AcpiConfig>): Uint8Array {
  const entries: number[][] = [];
  for (let i = 0; i < cfg.cpus; i++) entries.push([0, 8, i, i, 1, 0, 0, 0]); // processor local APIC, enabled
  const io = [1, 12, cfg.ioapicId, 0, ...le32(cfg.ioapicBase), ...le32(0)];
  entries.push(io);
  entries.push([2, 10, 0, 0, ...le32(2), 0, 0]);                  // IRQ 0 -> GSI 2, conforming
  entries.push([2, 10, 0, SCI_IRQ, ...le32(SCI_IRQ), 0x0d, 0]);   // SCI: active high, level
  entries.push([4, 6, 0xff, 0, 0, 1]);                            // LINT1 is NMI on every CPU
  const body = entries.flat();
  return table('APIC', 5, 44 + body.length, (w) => {
    w.u32(36, cfg.lapicBase);
    w.u32(40, 1); // PCAT_COMPAT: dual 8259s present
    w.bytes.set(body, 44);
  });
}

function le32(v: number): number[] { return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]; }

function xsdt(pointers: number[]): Uint8Array {
  return table('XSDT', 1, 36 + 8 * pointers.length, (w) => pointers.forEach((p, i) => w.u64(36 + 8 * i, p)));
}

function rsdp(xsdtAddr: number): Uint8Array {
  const w = new Writer(36);
  w.ascii(0, 'RSD PTR ');
  w.ascii(9, OEM_ID);
  w.u8(15, 2);
  w.u32(20, 36);
  w.u64(24, xsdtAddr);
  w.u8(8, checksum(w.bytes, 0, 20));
  w.u8(32, checksum(w.bytes, 0, 36));
  return w.bytes;
}

/** Lay out all tables from cfg.base: RSDP, XSDT, FADT, FACS (64-byte aligned), DSDT, MADT. */
export function buildAcpiTables(config: AcpiConfig): AcpiTables {
  const cfg: Required<AcpiConfig> = { lapicBase: 0xfee00000, ioapicBase: 0xfec00000, ioapicId: config.cpus, ...config };
  if (cfg.base % 64 !== 0) throw new RangeError('ACPI tables must start 64-byte aligned');
  if (cfg.cpus < 1 || cfg.cpus > 255) throw new RangeError(`ACPI can describe 1 to 255 CPUs here (got ${cfg.cpus})`);
  const align = (n: number, a: number) => Math.ceil(n / a) * a;
  const at = { rsdp: cfg.base, xsdt: cfg.base + 64, fadt: 0, facs: 0, dsdt: 0, madt: 0 };
  at.fadt = at.xsdt + 64;
  at.facs = align(at.fadt + 276, 64);
  at.dsdt = at.facs + 64;
  const dsdtBytes = dsdt();
  at.madt = align(at.dsdt + dsdtBytes.length, 16);
  const madtBytes = madt(cfg);
  const end = at.madt + madtBytes.length;
  const image = new Uint8Array(end - cfg.base);
  const put = (addr: number, bytes: Uint8Array) => image.set(bytes, addr - cfg.base);
  put(at.rsdp, rsdp(at.xsdt));
  put(at.xsdt, xsdt([at.fadt, at.madt]));
  put(at.fadt, fadt(at.facs, at.dsdt));
  put(at.facs, facs());
  put(at.dsdt, dsdtBytes);
  put(at.madt, madtBytes);
  return { image, rsdpAddr: at.rsdp };
}
