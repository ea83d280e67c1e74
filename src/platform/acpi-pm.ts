// The ACPI fixed power-management registers the FADT describes: PM1a event
// (status and enable) and PM1a control. The machine is always in ACPI mode
// (SCI_EN set, no SMI command port); writing SLP_EN with the \_S5 sleep type
// powers the machine off.
import type { PortDevice, IrqLine } from './device.js';
import { PM1A_EVT_PORT, PM1A_CNT_PORT, SLP_TYP_S5, SLP_EN } from './acpi.js';

const SCI_EN = 1;
/** PM1 status/enable bit of the power button. */
const PWRBTN = 1 << 8;

export class AcpiPm implements PortDevice {
  readonly name = 'acpi-pm';
  readonly ports = [[PM1A_EVT_PORT, PM1A_EVT_PORT + 3], [PM1A_CNT_PORT, PM1A_CNT_PORT + 1]] as const;
  private status = 0;
  private enable = 0;
  private control = SCI_EN;

  /** `sci` is the SCI interrupt (SCI_IRQ), raised while an enabled status bit is set. */
  constructor(private readonly onPowerOff: () => void, private readonly sci?: IrqLine) {}

  /** An ACPI power-button press: the guest's ACPI driver sees it and shuts down cleanly. */
  pressPowerButton(): void {
    this.status |= PWRBTN;
    this.updateSci();
  }

  private updateSci(): void { this.sci?.set((this.status & this.enable) !== 0); }

  ioRead(port: number, size: number): number {
    // Byte-wise view of the 4-byte event block (status at +0, enable at +2) and the 2-byte control block.
    const regs = port < PM1A_CNT_PORT
      ? (this.status | (this.enable << 16)) >>> ((port - PM1A_EVT_PORT) * 8)
      : this.control >>> ((port - PM1A_CNT_PORT) * 8);
    return size === 4 ? regs >>> 0 : regs & ((1 << (size * 8)) - 1);
  }

  ioWrite(port: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.writeByte(port + i, (value >>> (i * 8)) & 0xff);
  }

  private writeByte(port: number, b: number): void {
    switch (port - PM1A_EVT_PORT) {
      case 0: this.status &= ~b; this.updateSci(); return;       // write one to clear
      case 1: this.status &= ~(b << 8); this.updateSci(); return;
      case 2: this.enable = (this.enable & 0xff00) | b; this.updateSci(); return;
      case 3: this.enable = (this.enable & 0x00ff) | (b << 8); this.updateSci(); return;
    }
    const shift = (port - PM1A_CNT_PORT) * 8;
    const v = ((this.control & ~(0xff << shift)) | (b << shift)) & 0xffff;
    // SLP_EN is write-only: act on it, never keep it.
    this.control = (v & ~SLP_EN) | SCI_EN;
    if ((v & SLP_EN) !== 0 && ((v >> 10) & 7) === SLP_TYP_S5) this.onPowerOff();
  }
}
