// Runs cases on our CPU through the backend interface: one machine reused
// for every case, with code, data and registers re-initialised per case at
// the same addresses the native runner uses (guest-physical = linear).
import { createSoftwareMachine } from '../../src/backend/software.js';
import { Exit, ExitField, Reg, type Machine, type PlatformBus, type Vcpu } from '../../src/backend/interface.js';
import { enterLongMode } from '../../test/support/guest64.js';
import {
  CODE_BASE, DATA_BASE, DATA_SIZE, GUEST_RAM_SIZE, Vector, type MemRun, type Outcome, type TestCase,
} from './layout.js';
import { errorMessage } from '../../src/error-message.js';

/** Instruction budget per case: far above what any generated case executes. */
const BUDGET = 100_000;

/** No devices: user-mode cases reach none (port I/O at CPL 3 faults first). */
const NO_DEVICES: PlatformBus = {
  ioIn: () => 0xffffffff,
  ioOut: () => {},
  mmioRead: () => 0xffffffff,
  mmioWrite: () => {},
  ackInterrupt: () => -1,
};

export class EmulatedRunner {
  private readonly initial = new Uint8Array(DATA_SIZE);
  private previousCodeLength = 0;

  private constructor(private readonly machine: Machine, private readonly vcpu: Vcpu) {}

  static async create(): Promise<EmulatedRunner> {
    const machine = await createSoftwareMachine({ ramSize: GUEST_RAM_SIZE, bus: NO_DEVICES, vcpus: 1 });
    return new EmulatedRunner(machine, machine.vcpus[0]);
  }

  run(pattern: Uint8Array, tc: TestCase): Outcome {
    this.load(pattern, tc);
    let exit: Exit;
    try {
      exit = this.vcpu.run(BUDGET);
    } catch (e) {
      return this.outcome(Vector.OTHER_EXIT, `run() threw: ${errorMessage(e)}`);
    }
    if (exit === Exit.EXCEPTION) return this.outcome(Number(this.vcpu.exitField(ExitField.NUMBER)));
    if (exit === Exit.BUDGET) return this.outcome(Vector.TIMEOUT);
    return this.outcome(Vector.OTHER_EXIT, `exit ${Exit[exit] ?? exit}`);
  }

  private load(pattern: Uint8Array, tc: TestCase): void {
    const { ram } = this.machine;
    ram.fill(0, CODE_BASE, CODE_BASE + this.previousCodeLength);
    ram.set(tc.code, CODE_BASE);
    this.machine.notifyRamWritten(CODE_BASE, Math.max(this.previousCodeLength, tc.code.length));
    this.previousCodeLength = tc.code.length;

    this.initial.set(pattern);
    for (const p of tc.patches) this.initial.set(p.bytes, p.offset);
    ram.set(this.initial, DATA_BASE);
    this.machine.notifyRamWritten(DATA_BASE, DATA_SIZE);

    const { vcpu } = this;
    enterLongMode(this.machine, vcpu, { cpl: 3, rip: tc.init.rip, rsp: tc.init.gpr[Reg.RSP] });
    tc.init.gpr.forEach((v, r) => vcpu.setReg(r as Reg, v));
    vcpu.setReg(Reg.RFLAGS, tc.init.rflags);
    vcpu.setReg(Reg.MXCSR, BigInt(tc.init.mxcsr));
    for (let x = 0; x < 16; x++) vcpu.setXmm(x, fromLittleEndian(tc.init.xmm.subarray(16 * x, 16 * x + 16)));
    vcpu.setExceptionBitmap(0xffffffff);
  }

  private outcome(vector: number, note?: string): Outcome {
    const { vcpu } = this;
    const hasErrorCode = vector < 32 && vcpu.exitField(ExitField.FLAGS) !== 0n;
    const xmm = new Uint8Array(256);
    for (let x = 0; x < 16; x++) xmm.set(toLittleEndian(vcpu.getXmm(x), 16), 16 * x);
    return {
      vector,
      errorCode: hasErrorCode ? vcpu.exitField(ExitField.VALUE) : 0n,
      faultAddr: vector === Vector.PF ? vcpu.exitField(ExitField.GPA) : 0n,
      state: {
        gpr: Array.from({ length: 16 }, (_, r) => vcpu.getReg(r as Reg)),
        // As the guest's handler would see it: past the instruction for a trap (INT3, INT1), as natively.
        rip: vcpu.getReg(Reg.RIP) + (vector < 32 ? vcpu.exitField(ExitField.INSTR_LEN) : 0n),
        rflags: vcpu.getReg(Reg.RFLAGS),
        xmm,
        mxcsr: Number(vcpu.getReg(Reg.MXCSR)),
      },
      memChanges: this.dataChanges(),
      note,
    };
  }

  /** Runs of data bytes that differ from the initial image (whole equal words skipped at once). */
  private dataChanges(): MemRun[] {
    const { ram } = this.machine;
    const now = ram.subarray(DATA_BASE, DATA_BASE + DATA_SIZE);
    const now32 = new Uint32Array(ram.buffer, ram.byteOffset + DATA_BASE, DATA_SIZE / 4);
    const initial32 = new Uint32Array(this.initial.buffer);
    const runs: MemRun[] = [];
    for (let i = 0; i < DATA_SIZE;) {
      if ((i & 3) === 0 && now32[i >> 2] === initial32[i >> 2]) { i += 4; continue; }
      if (now[i] === this.initial[i]) { i++; continue; }
      const start = i;
      while (i < DATA_SIZE && now[i] !== this.initial[i]) i++;
      runs.push({ offset: start, bytes: now.slice(start, i) });
    }
    return runs;
  }
}

function fromLittleEndian(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

function toLittleEndian(v: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}
