// What the differential tester knows about the host CPU: its CPUID, read by
// executing CPUID in the native runner (not /proc/cpuinfo, which the kernel
// filters). Some results the architecture leaves to the implementation, or
// that newer cores changed under a CPUID flag; a case names them with a
// HostRule, and the comparison applies the rule only when the host has the
// trait that defines it.
import { CODE_BASE, DATA_BASE, DATA_SIZE, STACK_TOP, type TestCase } from './layout.js';
import { runNative } from './native.js';

export interface CpuidResult { eax: number; ebx: number; ecx: number; edx: number }

/** Host behaviours a HostRule can depend on. */
export type HostTrait =
  /** GenuineIntel: results the SDM leaves undefined that Intel cores produce consistently (our CPU models them). */
  | 'intel'
  /**
   * Fast short REP (CPUID.(7,0):EDX[4] FSRM; CPUID.(7,1):EAX[10-12] fast zero-length MOVSB, fast short
   * STOSB, fast short CMPSB/SCASB): a 32-bit-address REP string instruction with ECX = 0 may write
   * ECX/ESI/EDI back, zero-extending RCX/RSI/RDI, where older cores leave them alone.
   */
  | 'fast-short-rep'
  /**
   * FDP_EXCPTN_ONLY (CPUID.(7,0):EBX[6]) or FCS/FDS deprecated (CPUID.(7,0):EBX[13]): FNSTENV/FNSAVE
   * store the x87 last-instruction and last-operand pointers as zeros (observed for FIP as well).
   */
  | 'x87-pointers-zeroed';

export interface HostCpu {
  vendor: string;
  traits: Set<HostTrait>;
}

/** A result the architecture does not pin down, with the host trait that decides how to compare it. */
export interface HostRule {
  when: HostTrait;
  /** With the trait, these results differ by design and are not compared: register bits, data-region bytes. */
  ignore?: { regBits?: Array<[reg: number, mask: bigint]>; bytes?: Array<[offset: number, length: number]> };
  /** With the trait, these otherwise undefined results are compared: registers (bit per number) and flags. */
  compare?: { regs?: number; flags?: number };
}

const bit = (v: number, n: number) => ((v >>> n) & 1) === 1;

/** CPUID leaves run natively in one batch (CPUID then the final UD2). */
export function nativeCpuid(queries: Array<[leaf: number, subleaf: number]>): CpuidResult[] {
  const code = Uint8Array.from([0x0f, 0xa2, 0x0f, 0x0b]);
  const cases: TestCase[] = queries.map(([leaf, subleaf], id) => {
    const gpr = Array.from({ length: 16 }, () => 0n);
    gpr[0] = BigInt(leaf >>> 0);
    gpr[1] = BigInt(subleaf >>> 0);
    gpr[4] = BigInt(DATA_BASE + STACK_TOP);
    return {
      id, category: 'host-cpuid', insns: ['cpuid'], code, insnEnds: [2],
      init: { gpr, rip: BigInt(CODE_BASE), rflags: 0x202n, xmm: new Uint8Array(256), mxcsr: 0x1f80 },
      patches: [], undefinedFlags: 0, undefinedRegs: 0,
    };
  });
  return runNative(new Uint8Array(DATA_SIZE), cases).map(({ state: { gpr } }) =>
    ({ eax: Number(gpr[0]), ebx: Number(gpr[3]), ecx: Number(gpr[1]), edx: Number(gpr[2]) }));
}

/** The host's traits from its CPUID leaves 0, (7,0) and (7,1). */
export function traitsFromCpuid(leaf0: CpuidResult, leaf7: CpuidResult, leaf7s1: CpuidResult): HostCpu {
  const text = (v: number) => String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  const vendor = text(leaf0.ebx) + text(leaf0.edx) + text(leaf0.ecx);
  const traits = new Set<HostTrait>();
  if (vendor === 'GenuineIntel') traits.add('intel');
  if (bit(leaf7.edx, 4) || bit(leaf7s1.eax, 10) || bit(leaf7s1.eax, 11) || bit(leaf7s1.eax, 12)) traits.add('fast-short-rep');
  if (bit(leaf7.ebx, 6) || bit(leaf7.ebx, 13)) traits.add('x87-pointers-zeroed');
  return { vendor, traits };
}

let cached: HostCpu | undefined;

/** The host CPU (read once per process). */
export function hostCpu(): HostCpu {
  if (!cached) {
    const [leaf0, leaf7, leaf7s1] = nativeCpuid([[0, 0], [7, 0], [7, 1]]);
    const maxLeaf = leaf0.eax >>> 0;
    const none = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    // Leaf 7 subleaf 1 exists only when leaf 7 subleaf 0 says so (EAX is the highest subleaf).
    cached = traitsFromCpuid(leaf0, maxLeaf >= 7 ? leaf7 : none, maxLeaf >= 7 && leaf7.eax >= 1 ? leaf7s1 : none);
  }
  return cached;
}

/** Use `host` instead of the real host (tests of the rules themselves). */
export function assumeHost(host: HostCpu | undefined): void { cached = host; }

/**
 * The x87 pointer fields of an FNSTENV/FNSAVE image at data offset `offset` (protected-mode layout, 32- or
 * 16-bit operand size): FIP, FCS, FDP, FDS, which 'x87-pointers-zeroed' hosts store as zeros.
 */
export function x87PointerRule(offset: number, operandSize: 32 | 16): HostRule {
  const bytes: Array<[number, number]> = operandSize === 32
    ? [[offset + 12, 6], [offset + 20, 6]] // FIP (4) FCS (2); FDP (4) FDS (2); FOP at 18-19 is still compared
    : [[offset + 6, 8]]; // FIP FCS FDP FDS, 2 bytes each
  return { when: 'x87-pointers-zeroed', ignore: { bytes } };
}
