// Fault categories: instructions that must raise an exception, so that the
// vector, error code, faulting RIP and the state at the fault are compared.
import { CaseBuilder, RSP } from './case-builder.js';
import { ALL_SIZES, FX, memOpts, pickSize } from './gen-util.js';
import { DATA_BASE, Flag, UNMAPPED_ADDR } from './layout.js';

function nonCanonical(b: CaseBuilder): bigint {
  return b.rng.pick([0x8000_0000_0000_0000n, 0x0000_8000_0000_0000n, 0xffff_7fff_ffff_f000n]) + BigInt(b.rng.int(0x1000));
}

/** A register holding `address`, for a memory operand that is meant to fault. */
function pointerTo(b: CaseBuilder, address: bigint) {
  const r = b.reg(64, { unpinned: true });
  b.setReg(r.num, address);
  return r;
}

/** Loads, stores, pushes and jumps to addresses that are non-canonical (#GP, #SS) or unmapped (#PF). */
export function memoryFault(b: CaseBuilder): void {
  const size = pickSize(b, ALL_SIZES.filter((s) => s !== 8));
  const acc = b.reg(size).name;
  const ptr = size === 64 ? 'qword ptr' : size === 32 ? 'dword ptr' : 'word ptr';
  switch (b.rng.pick(['load', 'store', 'rmw', 'stack', 'jump', 'call', 'ret'])) {
    case 'load': {
      const r = pointerTo(b, b.rng.chance(0.5) ? nonCanonical(b) : UNMAPPED_ADDR + BigInt(b.rng.int(0x1000)));
      b.insn(`mov ${acc}, ${ptr} [${r.name}]`);
      break;
    }
    case 'store': {
      const r = pointerTo(b, b.rng.chance(0.5) ? nonCanonical(b) : UNMAPPED_ADDR + BigInt(b.rng.int(0x1000)));
      b.insn(`mov ${ptr} [${r.name}], ${acc}`);
      break;
    }
    case 'rmw': {
      const r = pointerTo(b, UNMAPPED_ADDR + BigInt(b.rng.int(0x1000)));
      b.insn(`${b.rng.chance(0.3) ? 'lock ' : ''}add ${ptr} [${r.name}], ${acc}`);
      break;
    }
    case 'stack': // RSP off the map: #SS when non-canonical, #PF when unmapped
      b.forceReg(RSP, b.rng.chance(0.5) ? nonCanonical(b) & ~7n : UNMAPPED_ADDR + 0x800n);
      b.insn(b.rng.pick(['push rax', 'pop rcx', 'call {L}x', 'pushfq', `mov eax, dword ptr [rsp + ${b.rng.int(64)}]`]));
      b.label('x');
      break;
    case 'jump': {
      const r = pointerTo(b, b.rng.chance(0.5) ? nonCanonical(b) : UNMAPPED_ADDR + BigInt(b.rng.int(0x1000)));
      b.insn(`jmp ${r.name}`);
      break;
    }
    case 'call': { // the push happens, then the fetch at the target faults
      const r = pointerTo(b, UNMAPPED_ADDR + BigInt(b.rng.int(0x1000)));
      b.insn(`call ${r.name}`);
      break;
    }
    default: { // return to an unmapped address
      const r = pointerTo(b, UNMAPPED_ADDR + BigInt(b.rng.int(0x1000)));
      b.insn(`push ${r.name}`);
      b.insn('ret');
    }
  }
}

/** Encodings that are #UD in 64-bit mode or by construction. */
const INVALID_OPCODES: [number[], string][] = [
  [[0x06], 'push es'], [[0x07], 'pop es'], [[0x0e], 'push cs'], [[0x16], 'push ss'], [[0x17], 'pop ss'],
  [[0x1e], 'push ds'], [[0x1f], 'pop ds'], [[0x27], 'daa'], [[0x2f], 'das'], [[0x37], 'aaa'], [[0x3f], 'aas'],
  [[0x60], 'pusha'], [[0x61], 'popa'], [[0xd4, 0x0a], 'aam'], [[0xd5, 0x0a], 'aad'], [[0xd6], 'salc'],
  [[0xce], 'into'], [[0x9a, 0, 0, 0, 0, 0, 0], 'call far ptr16:32'], [[0xea, 0, 0, 0, 0, 0, 0], 'jmp far ptr16:32'],
  [[0x82, 0xc0, 0x01], 'add al, 1 (82 /0, invalid in 64-bit mode)'],
  [[0xf0, 0x01, 0xc0], 'lock add eax, eax (register destination)'],
  [[0xf0, 0x8b, 0x03], 'lock mov eax, [rbx] (not lockable)'],
  [[0xf0, 0x90], 'lock nop'],
  [[0x8d, 0xc3], 'lea eax, ebx (register operand)'],
  [[0x0f, 0xc7, 0xc8], 'cmpxchg8b eax (register operand)'],
  [[0x8e, 0xc8], 'mov cs, eax'],
  [[0x0f, 0xb9, 0xc0], 'ud1 eax, eax'],
  [[0x0f, 0xff, 0xc0], 'ud0 eax, eax'],
];

/** Privileged or I/O instructions at CPL 3 with IOPL 0: #GP(0). */
const PRIVILEGED: string[] = [
  'hlt', 'cli', 'sti', 'in al, dx', 'out dx, al', 'in eax, 0x60', 'insb', 'outsb', 'rdmsr', 'wrmsr',
  'mov cr0, rax', 'mov rax, cr3', 'mov dr7, rax', 'lgdt [rbx]', 'lidt [rbx]', 'lldt ax', 'ltr ax',
  'invlpg [rbx]', 'wbinvd', 'invd', 'clts', 'sysretd', 'sysretq', 'swapgs',
];

export function invalidOrPrivileged(b: CaseBuilder): void {
  // INT3 is a trap: the reported RIP is the next instruction. (INT1 is left out: under the host's
  // hypervisor it reports the RIP of the INT1 itself, which is not what bare hardware does.)
  if (b.rng.chance(0.05)) {
    b.insn('int3');
    return;
  }
  if (b.rng.chance(0.5)) {
    const [bytes, display] = b.rng.pick(INVALID_OPCODES);
    b.setReg(3, BigInt(DATA_BASE + 0x100)); // RBX operand of the memory forms points at data
    b.bytes(bytes, display);
  } else {
    b.setReg(3, BigInt(DATA_BASE + 0x100));
    b.insn(b.rng.pick(PRIVILEGED));
  }
}

/** Misaligned accesses that must fault: aligned SSE forms (#GP), and any access with RFLAGS.AC (#AC). */
export function alignmentFault(b: CaseBuilder): void {
  if (b.rng.chance(0.5)) {
    const misalign = b.rng.pick([1, 4, 8]);
    const m = b.mem(128, memOpts(b, { align: 16, misalign }));
    b.insn(`${b.rng.pick(['movdqa', 'movaps', 'movapd', 'paddb', 'pxor', 'pcmpeqb', 'por'])} xmm${b.rng.int(16)}, ${m.text}`);
    return;
  }
  // Alignment checking: CR0.AM is set on both sides, so AC=1 at CPL 3 checks every data access.
  b.setFlags(Flag.AC);
  if (b.rng.chance(0.25)) { // stack accesses through a misaligned RSP
    b.forceReg(RSP, b.gpr[RSP] - BigInt(b.rng.pick([0, 1, 2, 4])));
    b.insn(b.rng.pick(['push rax', 'pop rcx', 'pushfq', 'call {L}x', 'push 5']));
    b.label('x');
    return;
  }
  const size = pickSize(b, ALL_SIZES);
  const bytes = size / 8;
  const misalign = size === 8 ? 0 : b.rng.pick([0, 1, bytes / 2]);
  const m = b.mem(size, memOpts(b, { align: bytes, misalign }));
  const r = b.reg(size).name;
  if (b.rng.chance(0.5)) b.insn(`mov ${r}, ${m.text}`);
  else b.insn(`add ${m.text}, ${r}`, FX.arith);
}

export const faultCategories = {
  'fault-memory': memoryFault, 'fault-invalid': invalidOrPrivileged, 'fault-alignment': alignmentFault,
} satisfies Record<string, (b: CaseBuilder) => void>;
