// The i8042 keyboard controller (ports 0x60 data, 0x64 status/command) with
// a PS/2 keyboard behind it. Commands complete instantly, so IBF is always 0.
// The aux (mouse) port exists but has no device: bytes sent to it come back
// as 0xFE with the timeout bit, which is how a real controller reports an
// empty PS/2 port, so Linux's psmouse gives up at once and quietly.
import type { IrqLine, PortDevice } from './device.js';

export interface I8042Options {
  onReset: () => void;
  irq1?: IrqLine;
  irq12?: IrqLine;
}

const DATA_PORT = 0x60, COMMAND_PORT = 0x64;

// Status register bits (Linux i8042.h names).
const STR_OBF = 0x01, STR_SYS = 0x04, STR_CMDDAT = 0x08, STR_KEYLOCK = 0x10;
const STR_AUXDATA = 0x20, STR_TIMEOUT = 0x40;
// Command byte bits.
const CTR_KBDINT = 0x01, CTR_AUXINT = 0x02, CTR_SYS = 0x04, CTR_KBDDIS = 0x10, CTR_AUXDIS = 0x20, CTR_XLATE = 0x40;

const KBD_ACK = 0xfa, KBD_BAT_OK = 0xaa, KBD_ECHO = 0xee, PS2_NO_DEVICE = 0xfe;

interface OutputByte { data: number; aux: boolean; timeout?: boolean }

/** Controller commands whose parameter is the next byte written to the data port. */
type PendingParameter =
  | { to: 'ram'; index: number }
  | { to: 'output-port' | 'kbd-buffer' | 'aux-buffer' | 'aux-device' }
  | { to: 'keyboard'; command: number };

export class I8042 implements PortDevice {
  readonly name = 'i8042';
  readonly ports: ReadonlyArray<readonly [number, number]> = [[DATA_PORT, DATA_PORT], [COMMAND_PORT, COMMAND_PORT]];

  private readonly onReset: () => void;
  private readonly irq1: IrqLine | undefined;
  private readonly irq12: IrqLine | undefined;

  /** Controller RAM; byte 0 is the command byte. A BIOS leaves the aux port off and translation on. */
  private readonly ram = new Uint8Array(32);
  private outputQueue: OutputByte[] = [];
  private pending: PendingParameter | undefined;
  private lastWriteWasCommand = false;
  private outputPort = 0x03; // bit 0: reset line (active low), bit 1: A20
  private keyboardScanning = true;
  private irq1Level = false;
  private irq12Level = false;

  constructor(opts: I8042Options) {
    this.onReset = opts.onReset;
    this.irq1 = opts.irq1;
    this.irq12 = opts.irq12;
    this.ram[0] = CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE;
  }

  /** Host keystrokes as the guest should see them (set 1 when translating). Dropped while the keyboard is off. */
  keyboardInput(bytes: Uint8Array): void {
    if (!this.keyboardScanning || (this.commandByte & CTR_KBDDIS)) return;
    for (const b of bytes) this.outputQueue.push({ data: b, aux: false });
    this.updateIrqs();
  }

  ioRead(port: number, _size: number): number {
    if (port === COMMAND_PORT) return this.status();
    const head = this.outputQueue.shift();
    // Reading empties the buffer for a moment: drop the line so the next byte is a fresh edge.
    this.lowerIrqs();
    this.updateIrqs();
    return head?.data ?? 0;
  }

  ioWrite(port: number, _size: number, value: number): void {
    value &= 0xff;
    this.lastWriteWasCommand = port === COMMAND_PORT;
    if (port === COMMAND_PORT) this.controllerCommand(value);
    else this.dataWrite(value);
    this.updateIrqs();
  }

  private get commandByte(): number { return this.ram[0]!; }

  private status(): number {
    const head = this.outputQueue[0];
    let s = STR_KEYLOCK | (this.commandByte & CTR_SYS ? STR_SYS : 0) | (this.lastWriteWasCommand ? STR_CMDDAT : 0);
    if (head) s |= STR_OBF | (head.aux ? STR_AUXDATA : 0) | (head.timeout ? STR_TIMEOUT : 0);
    return s;
  }

  private reply(data: number, aux = false, timeout = false): void {
    this.outputQueue.push({ data, aux, timeout });
  }

  private controllerCommand(cmd: number): void {
    this.pending = undefined;
    if (cmd >= 0x20 && cmd <= 0x3f) { this.reply(this.ram[cmd & 0x1f]!); return; }
    if (cmd >= 0x60 && cmd <= 0x7f) { this.pending = { to: 'ram', index: cmd & 0x1f }; return; }
    if (cmd >= 0xf0) {
      // Pulse output port bits 0-3 low for 6 µs; bit 0 is the CPU reset line.
      if (!(cmd & 0x01)) this.onReset();
      return;
    }
    switch (cmd) {
      case 0xa4: this.reply(0xf1); return; // no password installed
      case 0xa7: this.ram[0] = this.commandByte | CTR_AUXDIS; return;
      case 0xa8: this.ram[0] = this.commandByte & ~CTR_AUXDIS; return;
      case 0xa9: this.reply(0x00); return; // aux interface test: no error
      case 0xaa: this.reply(0x55); return; // self-test passed
      case 0xab: this.reply(0x00); return; // keyboard interface test: no error
      case 0xad: this.ram[0] = this.commandByte | CTR_KBDDIS; return;
      case 0xae: this.ram[0] = this.commandByte & ~CTR_KBDDIS; return;
      case 0xc0: this.reply(0x00); return; // input port
      case 0xd0: this.reply(this.outputPortValue()); return;
      case 0xd1: this.pending = { to: 'output-port' }; return;
      case 0xd2: this.pending = { to: 'kbd-buffer' }; return;
      case 0xd3: this.pending = { to: 'aux-buffer' }; return;
      case 0xd4: this.pending = { to: 'aux-device' }; return;
      case 0xe0: this.reply(0x00); return; // test inputs
      default: return; // unknown or no-op commands (A20 fast gates 0xdd/0xdf, ...)
    }
  }

  private outputPortValue(): number {
    const head = this.outputQueue[0];
    const obf = head && !head.aux ? 0x10 : 0, auxObf = head?.aux ? 0x20 : 0;
    return (this.outputPort & 0x0f) | obf | auxObf;
  }

  private dataWrite(value: number): void {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) { this.keyboardCommand(value); return; }
    switch (pending.to) {
      case 'ram': this.ram[pending.index] = value; return;
      case 'output-port':
        this.outputPort = value;
        if (!(value & 0x01)) this.onReset();
        return;
      case 'kbd-buffer': this.reply(value); return;
      case 'aux-buffer': this.reply(value, true); return; // Linux's AUX loop test and IRQ12 test
      case 'aux-device': this.reply(PS2_NO_DEVICE, true, true); return;
      case 'keyboard': this.keyboardParameter(pending.command, value); return;
    }
  }

  /** A byte for the keyboard itself: every command is acknowledged. */
  private keyboardCommand(cmd: number): void {
    switch (cmd) {
      case 0xff: // reset and self-test (BAT)
        this.keyboardScanning = true;
        this.reply(KBD_ACK);
        this.reply(KBD_BAT_OK);
        return;
      case 0xf2: // identify: an MF2 keyboard, reported as 0x41 when the controller translates
        this.reply(KBD_ACK);
        this.reply(0xab);
        this.reply(this.commandByte & CTR_XLATE ? 0x41 : 0x83);
        return;
      case 0xee: this.reply(KBD_ECHO); return;
      case 0xf4: this.keyboardScanning = true; this.reply(KBD_ACK); return;
      case 0xf5: this.keyboardScanning = false; this.reply(KBD_ACK); return;
      case 0xf6: this.keyboardScanning = true; this.reply(KBD_ACK); return;
      case 0xed: case 0xf0: case 0xf3: // LEDs, scan code set, typematic rate: a parameter follows
        this.pending = { to: 'keyboard', command: cmd };
        this.reply(KBD_ACK);
        return;
      default: this.reply(KBD_ACK);
    }
  }

  private keyboardParameter(command: number, value: number): void {
    this.reply(KBD_ACK);
    if (command === 0xf0 && value === 0) this.reply(0x02); // current scan code set
  }

  private lowerIrqs(): void {
    if (this.irq1Level) { this.irq1Level = false; this.irq1?.set(false); }
    if (this.irq12Level) { this.irq12Level = false; this.irq12?.set(false); }
  }

  /** Each IRQ follows "a byte from that port is in the output buffer and its interrupt is enabled". */
  private updateIrqs(): void {
    const head = this.outputQueue[0];
    const kbd = !!head && !head.aux && (this.commandByte & CTR_KBDINT) !== 0;
    const aux = !!head && head.aux && (this.commandByte & CTR_AUXINT) !== 0;
    if (kbd !== this.irq1Level) { this.irq1Level = kbd; this.irq1?.set(kbd); }
    if (aux !== this.irq12Level) { this.irq12Level = aux; this.irq12?.set(aux); }
  }
}
