// Instruction decoder: prefixes, opcode maps, ModRM/SIB, displacement and
// immediates into a fixed-layout record, which the executor reads. Records
// hold no decoded register values, only register numbers, so a record stays
// valid as long as the code bytes it came from do.
import { countEvent, P_INSN_DECODED } from './profile';
import { codeHost } from './mem';
import { read8 } from './mem';
import { mode64, codeDefault32 } from './state';
import { fault, UD } from './fault';

// ---- record layout ----
export const D_OP: usize = 0;       // u16: 0x000-0x0ff one-byte map, 0x100 0F map, 0x200 0F38, 0x300 0F3A
export const D_LEN: usize = 2;      // u8
export const D_PFX: usize = 3;      // u8: P_* bits
export const D_OSIZE: usize = 4;    // u8: operand size 2/4/8 of the full-size form
export const D_ASIZE: usize = 5;    // u8: address size 2/4/8
export const D_SEG: usize = 6;      // u8: segment of the memory operand
export const D_MOD: usize = 7;      // u8: ModRM.mod (3 = register operand)
export const D_REG: usize = 8;      // u8: ModRM.reg with REX.R
export const D_RM: usize = 9;       // u8: ModRM.rm with REX.B (the register when mod == 3)
export const D_BASE: usize = 10;    // u8: base register, R_RIP, or R_ZERO
export const D_INDEX: usize = 11;   // u8: index register or R_ZERO
export const D_SCALE: usize = 12;   // u8: shift count 0..3
export const D_REX: usize = 13;     // u8: the REX byte (0 if none)
export const D_SEGOVR: usize = 14;  // u8: explicit segment override, or R_NONE
export const D_SSE: usize = 15;     // u8: mandatory prefix for SSE maps: 0 none, 1 = 66, 2 = F3, 3 = F2
/** In fast forms' records (which no SSE instruction is): 1 if the memory operand's linear address is its offset. */
export const D_FLAT: usize = 15;
export const D_DISP: usize = 16;    // i32: displacement of the memory operand
export const D_IMM2: usize = 16;    // i32: second immediate (ENTER's level, far pointer selector), forms without ModRM
export const D_FAST: usize = 20;    // u8: FAST_* form the run loop executes inline (0 = general executor)
export const D_FA: usize = 21;      // u8: fast form's destination register
export const D_FB: usize = 22;      // u8: fast form's source register
export const D_FK: usize = 23;      // u8: fast form's operation (ALU kind, condition, shift kind)
export const D_IMM: usize = 24;     // i64
export const RECORD_SHIFT: usize = 5;
export const RECORD_SIZE: usize = 1 << RECORD_SHIFT;

// Fast forms: the common instructions, no LOCK, executed inline by the run
// loop (fast.ts), each specialized by operation and size so it runs as
// straight-line code. FA/FB are register numbers, or for byte registers the
// byte offset of the register in the register file (AH..BH resolved).
export const FAST_NONE: u8 = 0;
export const FAST_MOV_RR32: u8 = 1;   // FA <- FB
export const FAST_MOV_RR64: u8 = 2;
export const FAST_LOAD32: u8 = 3;     // FA <- [mem]
export const FAST_LOAD64: u8 = 4;
export const FAST_STORE32: u8 = 5;    // [mem] <- FB
export const FAST_STORE64: u8 = 6;
export const FAST_MOV_RI: u8 = 7;     // FA <- imm (zero-extended for 32-bit forms)
export const FAST_STORE_IMM32: u8 = 8; // [mem] <- imm
export const FAST_STORE_IMM64: u8 = 9;
export const FAST_LEA32: u8 = 10;
export const FAST_LEA64: u8 = 11;
export const FAST_MOVSXD: u8 = 12;    // FA <- sign-extended 32-bit FB
export const FAST_MOVSXD_M: u8 = 13;  // FA <- sign-extended 32-bit [mem]
export const FAST_MOVZX8: u8 = 14;    // FA <- zero-extended byte [mem]
export const FAST_MOVZX8_R: u8 = 15;  // FA <- zero-extended byte register FB
export const FAST_MOVZX16: u8 = 16;   // FA <- zero-extended word [mem]
export const FAST_STORE8: u8 = 17;    // [mem] <- byte register FB
export const FAST_STORE8_IMM: u8 = 18;
export const FAST_STORE16: u8 = 19;   // [mem] <- low word of FB
export const FAST_NOP: u8 = 20;
export const FAST_PUSH: u8 = 21;      // 64-bit mode only, as the stack forms below
export const FAST_POP: u8 = 22;
export const FAST_CALL: u8 = 23;
export const FAST_RET: u8 = 24;
export const FAST_JMP: u8 = 25;
export const FAST_CALL_IND: u8 = 26;  // CALL r/m64 (FF /2); FB register when FK = 1
export const FAST_JMP_IND: u8 = 27;   // JMP r/m64 (FF /4); FB register when FK = 1
/** Jcc, CMOVcc, SETcc: one id per condition pair (cc >> 1); FK bit 0 negates. */
export const FAST_JCC: u8 = 28;       // .. 35
export const FAST_CMOV: u8 = 36;      // .. 43: if cc: FA <- FB (register forms)
export const FAST_SETCC: u8 = 44;     // .. 51: byte register FA <- cc
/** ALU kinds (the /digit order ADD OR ADC SBB AND SUB XOR CMP) x 32/64-bit: + kind * 2 + (size == 8). */
export const FAST_ALU_RR: u8 = 52;    // .. 67: FA <- FA (kind) FB
export const FAST_ALU_RI: u8 = 68;    // .. 83: FA <- FA (kind) imm (masked to the size)
export const FAST_TEST_RR32: u8 = 84;
export const FAST_TEST_RR64: u8 = 85;
export const FAST_TEST_RI32: u8 = 86;
export const FAST_TEST_RI64: u8 = 87;
export const FAST_INC32: u8 = 88;
export const FAST_INC64: u8 = 89;
export const FAST_DEC32: u8 = 90;
export const FAST_DEC64: u8 = 91;
/** SHL SHR SAR x 32/64-bit, count in the immediate (+0..5) or in CL (+6..11). */
export const FAST_SHIFT: u8 = 92;     // .. 103
/** ROL ROR x 32/64-bit, count in the immediate. */
export const FAST_ROT: u8 = 104;      // .. 107
export const FAST_NOT32: u8 = 108;
export const FAST_NOT64: u8 = 109;
export const FAST_IMUL_RRI: u8 = 110; // FA <- FB * imm
export const FAST_IMUL_RR: u8 = 111;  // FA <- FA * FB
export const FAST_ALU_RM: u8 = 112;   // FA <- FA (FK) [mem]
export const FAST_ALU_MR: u8 = 113;   // [mem] <- [mem] (FK) FB
export const FAST_ALU_MI: u8 = 114;   // [mem] <- [mem] (FK) imm
export const FAST_TEST8_RR: u8 = 115; // byte registers FA & FB
export const FAST_TEST8_RI: u8 = 116;
export const FAST_TEST8_MI: u8 = 117;
export const FAST_CMP8_RI: u8 = 118;
export const FAST_CMP8_MI: u8 = 119;
export const FAST_CMP8_RM: u8 = 120;  // byte register FA - [mem]
export const FAST_ALU8_RR: u8 = 121;  // byte registers FA <- FA (FK) FB
/** FAST_ROT whose flags a later instruction of its block overwrites unread (codecache.ts): no flag update. */
export const FAST_ROT_NF: u8 = 122;   // .. 125

export const P_LOCK = 1;
export const P_REP = 2;     // F3
export const P_REPNE = 4;   // F2
export const P_OPSZ = 8;    // 66
export const P_ADSZ = 16;   // 67
export const P_REX = 32;    // a REX prefix is present (byte registers SPL..DIL)
export const P_REXW = 64;

export const R_RIP: u8 = 16;
/** "No base" or "no index" in an address: a register slot that always holds 0 (state.ts). */
export const R_ZERO: u8 = 18;
export const R_NONE: u8 = 0xff;

// Opcode properties: bit 7 = has ModRM, low bits = immediate kind.
const I_NONE: u8 = 0;
const I_B: u8 = 1;      // imm8
const I_W: u8 = 2;      // imm16
const I_Z: u8 = 3;      // imm16/32 by operand size
const I_V: u8 = 4;      // imm16/32/64 by operand size (MOV r, imm)
const I_ENTER: u8 = 5;  // imm16, imm8
const I_FAR: u8 = 6;    // offset16/32 + selector16
const I_MOFFS: u8 = 7;  // offset of address size
const I_GRP3: u8 = 8;   // F6/F7: imm only for /0 and /1
const M: u8 = 0x80;

// One-byte map.
const MAP1 = memory.data<u8>([
  // 0x00
  M, M, M, M, I_B, I_Z, 0, 0, M, M, M, M, I_B, I_Z, 0, 0,
  // 0x10
  M, M, M, M, I_B, I_Z, 0, 0, M, M, M, M, I_B, I_Z, 0, 0,
  // 0x20
  M, M, M, M, I_B, I_Z, 0, 0, M, M, M, M, I_B, I_Z, 0, 0,
  // 0x30
  M, M, M, M, I_B, I_Z, 0, 0, M, M, M, M, I_B, I_Z, 0, 0,
  // 0x40
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  // 0x50
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  // 0x60
  0, 0, M, M, 0, 0, 0, 0, I_Z, M | I_Z, I_B, M | I_B, 0, 0, 0, 0,
  // 0x70
  I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B,
  // 0x80
  M | I_B, M | I_Z, M | I_B, M | I_B, M, M, M, M, M, M, M, M, M, M, M, M,
  // 0x90
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, I_FAR, 0, 0, 0, 0, 0,
  // 0xA0
  I_MOFFS, I_MOFFS, I_MOFFS, I_MOFFS, 0, 0, 0, 0, I_B, I_Z, 0, 0, 0, 0, 0, 0,
  // 0xB0
  I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_V, I_V, I_V, I_V, I_V, I_V, I_V, I_V,
  // 0xC0
  M | I_B, M | I_B, I_W, 0, M, M, M | I_B, M | I_Z, I_ENTER, 0, I_W, 0, 0, I_B, 0, 0,
  // 0xD0
  M, M, M, M, I_B, I_B, 0, 0, M, M, M, M, M, M, M, M,
  // 0xE0
  I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_B, I_Z, I_Z, I_FAR, I_B, 0, 0, 0, 0,
  // 0xF0
  0, 0, 0, 0, 0, 0, M | I_GRP3, M | I_GRP3, 0, 0, 0, 0, 0, 0, M, M,
]);

// Two-byte map (0F xx).
const MAP2 = memory.data<u8>([
  // 0x00
  M, M, M, M, 0, 0, 0, 0, 0, 0, 0, 0, 0, M, 0, 0,
  // 0x10
  M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
  // 0x20
  M, M, M, M, 0, 0, 0, 0, M, M, M, M, M, M, M, M,
  // 0x30
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  // 0x40
  M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
  // 0x50
  M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
  // 0x60
  M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
  // 0x70
  M | I_B, M | I_B, M | I_B, M | I_B, M, M, M, 0, M, M, 0, 0, M, M, M, M,
  // 0x80
  I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z, I_Z,
  // 0x90
  M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
  // 0xA0
  0, 0, 0, M, M | I_B, M, 0, 0, 0, 0, 0, M, M | I_B, M, M, M,
  // 0xB0
  M, M, M, M, M, M, M, M, M, M, M | I_B, M, M, M, M, M,
  // 0xC0
  M, M, M | I_B, M, M | I_B, M | I_B, M | I_B, M, 0, 0, 0, 0, 0, 0, 0, 0,
  // 0xD0
  M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
  // 0xE0
  M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
  // 0xF0
  M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
]);

// ---- byte fetch ----
let fetchLa: i64 = 0;      // linear address of the instruction's first byte
let fetchHost: usize = 0;  // host address of that byte (0: fetch through the slow path)
let fetchAvail: i32 = 0;   // bytes readable at fetchHost before the page ends
let pos: i32 = 0;
/**
 * Decoding ahead of execution (a block's later instructions): an instruction
 * that would fault or needs bytes beyond fetchAvail sets probeFailed instead
 * (its fault, if any, belongs to the moment it executes).
 */
let probing = false;
let probeFailed = false;

function fb(): i32 {
  if (pos >= 15) { // longer than 15 bytes: #GP(0)
    if (probing) { probeFailed = true; return 0; }
    fault(13, 0);
  }
  if (pos < fetchAvail) { const p = pos; pos++; return <i32>load<u8>(fetchHost + <usize>p); }
  if (probing) { probeFailed = true; return 0; }
  return fetchSlow();
}

function fetchSlow(): i32 {
  const la = fetchLa + pos;
  const h = codeHost(la);
  pos++;
  if (h == 0) return read8(la); // code outside RAM (a ROM in MMIO)
  return <i32>load<u8>(h);
}

function imm8(): i64 { return <i64><i8>fb(); }
function imm16(): i64 { const lo = fb(); return <i64><i16>(lo | (fb() << 8)); }
function imm32(): i64 {
  const a = fb(), b = fb(), c = fb(), d = fb();
  return <i64>(a | (b << 8) | (c << 16) | (d << 24));
}
function imm64(): i64 { const lo = imm32(); return (lo & 0xffffffff) | (imm32() << 32); }

const SEG_DS: u8 = 3;
const SEG_SS: u8 = 2;

/**
 * Decode the instruction at linear address `la` into the record at `rec`.
 * Raises #PF for unmapped code, #UD for encodings that do not exist here.
 */
export function decode(la: i64, rec: usize): void {
  const h = codeHost(la);
  decodeAt(la, h, h != 0 ? 0x1000 - (<i32>la & 0xfff) : 0, rec);
}

/**
 * Decode the instruction at `la`, whose bytes are at host address `h` up to
 * the end of its page, without faulting: false if it is invalid, too long or
 * runs past the page (the record is then unusable).
 */
export function decodeProbe(la: i64, h: usize, rec: usize): bool {
  probing = true;
  probeFailed = false;
  decodeAt(la, h, 0x1000 - (<i32>la & 0xfff), rec);
  probing = false;
  return !probeFailed;
}

function decodeAt(la: i64, h: usize, avail: i32, rec: usize): void {
  countEvent(P_INSN_DECODED);
  fetchLa = la;
  pos = 0;
  fetchHost = h;
  fetchAvail = avail;

  let pfx = 0, segovr: u8 = R_NONE, rex = 0, sse: u8 = 0;
  let b = fb();
  // Legacy prefixes, then REX (which must come last to count).
  while (true) {
    if (b == 0x66) { pfx |= P_OPSZ; if (sse == 0) sse = 1; }
    else if (b == 0x67) pfx |= P_ADSZ;
    else if (b == 0xf3) { pfx = (pfx & ~P_REPNE) | P_REP; sse = 2; }
    else if (b == 0xf2) { pfx = (pfx & ~P_REP) | P_REPNE; sse = 3; }
    else if (b == 0xf0) pfx |= P_LOCK;
    else if (b == 0x26) segovr = 0;
    else if (b == 0x2e) segovr = 1;
    else if (b == 0x36) segovr = 2;
    else if (b == 0x3e) segovr = 3;
    else if (b == 0x64) segovr = 4;
    else if (b == 0x65) segovr = 5;
    else if (mode64 && (b & 0xf0) == 0x40) {
      rex = b;
      b = fb();
      if ((b & 0xf0) == 0x40) continue; // a second REX replaces the first
      if (b == 0x66 || b == 0x67 || b == 0xf2 || b == 0xf3 || b == 0xf0 || b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65) {
        rex = 0; // REX followed by a legacy prefix is ignored
        continue;
      }
      break;
    }
    else break;
    b = fb();
  }
  if (rex != 0) pfx |= P_REX;
  if ((rex & 8) != 0) pfx |= P_REXW;

  let op = b;
  let props: i32;
  if (b == 0x0f) {
    const b2 = fb();
    if (b2 == 0x38) { op = 0x200 | fb(); props = M; }
    else if (b2 == 0x3a) { op = 0x300 | fb(); props = M | I_B; }
    else { op = 0x100 | b2; props = load<u8>(MAP2 + <usize>b2); }
  } else {
    props = load<u8>(MAP1 + <usize>b);
  }

  // Operand and address sizes.
  let osize: i32, asize: i32;
  if (mode64) {
    osize = (rex & 8) != 0 ? 8 : (pfx & P_OPSZ) != 0 ? 2 : 4;
    asize = (pfx & P_ADSZ) != 0 ? 4 : 8;
  } else {
    osize = codeDefault32 != ((pfx & P_OPSZ) != 0) ? 4 : 2;
    asize = codeDefault32 != ((pfx & P_ADSZ) != 0) ? 4 : 2;
  }

  let mod = 3, reg = 0, rm = 0;
  let base: u8 = R_ZERO, index: u8 = R_ZERO, scale = 0, disp: i64 = 0;
  let seg: u8 = SEG_DS;
  if ((props & M) != 0) {
    const modrm = fb();
    mod = modrm >> 6;
    reg = ((modrm >> 3) & 7) | ((rex & 4) << 1);
    rm = modrm & 7;
    // MOV to/from CRn/DRn always name a register, whatever mod says.
    if (op >= 0x120 && op <= 0x123) mod = 3;
    if (mod == 3) {
      rm |= (rex & 1) << 3;
    } else if (asize == 2) {
      // 16-bit addressing forms.
      switch (rm) {
        case 0: base = 3; index = 6; break;
        case 1: base = 3; index = 7; break;
        case 2: base = 5; index = 6; seg = SEG_SS; break;
        case 3: base = 5; index = 7; seg = SEG_SS; break;
        case 4: base = 6; break;
        case 5: base = 7; break;
        case 6: if (mod == 0) base = R_ZERO; else { base = 5; seg = SEG_SS; } break;
        default: base = 3; break;
      }
      if (mod == 0 && rm == 6) disp = imm16() & 0xffff;
      else if (mod == 1) disp = imm8();
      else if (mod == 2) disp = imm16();
    } else {
      if (rm == 4) {
        const sib = fb();
        scale = sib >> 6;
        const idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
        if (idx != 4) index = <u8>idx;
        const bs = sib & 7;
        if (bs == 5 && mod == 0) {
          base = R_ZERO;
          disp = imm32();
        } else {
          base = <u8>(bs | ((rex & 1) << 3));
          if (base == 4 || base == 5) seg = SEG_SS; // RSP and RBP, not R12 and R13
        }
      } else if (rm == 5 && mod == 0) {
        base = mode64 ? R_RIP : R_ZERO;
        disp = imm32();
      } else {
        base = <u8>(rm | ((rex & 1) << 3));
        if (base == 5) seg = SEG_SS;
      }
      if (mod == 1) disp = imm8();
      else if (mod == 2) disp = imm32();
    }
    if (segovr != R_NONE) seg = segovr;
  }

  // Immediates.
  let imm: i64 = 0, imm2: i64 = 0;
  switch (props & 0x7f) {
    case I_B: imm = imm8(); break;
    case I_W: imm = imm16() & 0xffff; break;
    case I_Z: imm = osize == 2 ? imm16() : imm32(); break;
    case I_V: imm = osize == 2 ? imm16() & 0xffff : osize == 4 ? imm32() & 0xffffffff : imm64(); break;
    case I_ENTER: imm = imm16() & 0xffff; imm2 = <i64>fb(); break;
    case I_FAR: {
      if (mode64) {
        if (probing) { probeFailed = true; return; }
        fault(UD, -1);
      }
      imm = osize == 2 ? imm16() & 0xffff : imm32() & 0xffffffff;
      imm2 = imm16() & 0xffff;
      break;
    }
    case I_MOFFS: {
      imm = asize == 2 ? imm16() & 0xffff : asize == 4 ? imm32() & 0xffffffff : imm64();
      if (segovr != R_NONE) seg = segovr;
      break;
    }
    case I_GRP3: {
      if ((reg & 7) < 2) imm = op == 0xf6 ? imm8() : (osize == 2 ? imm16() : imm32());
      break;
    }
    default: break;
  }

  store<u16>(rec + D_OP, <u16>op);
  store<u8>(rec + D_LEN, <u8>pos);
  store<u8>(rec + D_PFX, <u8>pfx);
  store<u8>(rec + D_OSIZE, <u8>osize);
  store<u8>(rec + D_ASIZE, <u8>asize);
  store<u8>(rec + D_SEG, seg);
  store<u8>(rec + D_MOD, <u8>mod);
  store<u8>(rec + D_REG, <u8>reg);
  store<u8>(rec + D_RM, <u8>rm);
  store<u8>(rec + D_BASE, base);
  store<u8>(rec + D_INDEX, index);
  store<u8>(rec + D_SCALE, <u8>scale);
  store<u8>(rec + D_REX, <u8>rex);
  store<u8>(rec + D_SEGOVR, segovr);
  store<u8>(rec + D_SSE, sse);
  // D_IMM2 shares D_DISP's bytes: only forms without ModRM have a second immediate.
  store<i32>(rec + D_DISP, (props & M) != 0 ? <i32>disp : <i32>imm2);
  store<i64>(rec + D_IMM, imm);
  classifyFast(rec, op, mod, reg, rm, osize, pfx, rex);
}

/** Byte offset in the register file of byte register `r` (AH..BH without REX). */
function byteReg(r: i32, rex: i32): i32 { return rex == 0 && r >= 4 && r < 8 ? ((r - 4) << 3) + 1 : r << 3; }

/** Pick the fast form for the decoded instruction, if it has one. */
function classifyFast(rec: usize, op: i32, mod: i32, reg: i32, rm: i32, osize: i32, pfx: i32, rex: i32): void {
  let f: u8 = FAST_NONE, fa = 0, fb = 0, fk = 0;
  const imm = load<i64>(rec + D_IMM);
  let newImm = imm;
  // LOCK needs the executor's validity check (#UD on most forms).
  if ((pfx & P_LOCK) != 0) { store<u8>(rec + D_FAST, FAST_NONE); return; }
  const wide = osize >= 4;
  const w64: u8 = osize == 8 ? 1 : 0;
  const m32: i64 = osize == 8 ? -1 : 0xffffffff;
  const r3 = reg & 7;
  // Near branches and the stack forms: 64-bit operand size in 64-bit mode, 32-bit elsewhere.
  const nearOk = mode64 ? (pfx & P_OPSZ) == 0 : osize == 4;
  const stack64 = mode64 && (pfx & P_OPSZ) == 0;
  if (op < 0x40 && (op & 7) < 6) {
    const kind = op >> 3;
    const form = op & 7;
    if (form == 1 && wide) {          // Ev, Gv
      if (mod == 3) { f = FAST_ALU_RR + <u8>(kind << 1) + w64; fa = rm; fb = reg; }
      else { f = FAST_ALU_MR; fb = reg; fk = kind; }
    } else if (form == 3 && wide) {   // Gv, Ev
      if (mod == 3) { f = FAST_ALU_RR + <u8>(kind << 1) + w64; fa = reg; fb = rm; }
      else { f = FAST_ALU_RM; fa = reg; fk = kind; }
    } else if (form == 5 && wide) {   // eAX, imm
      f = FAST_ALU_RI + <u8>(kind << 1) + w64; fa = 0; newImm = imm & m32;
    } else if (form == 0 && mod == 3) { // Eb, Gb
      f = FAST_ALU8_RR; fa = byteReg(rm, rex); fb = byteReg(reg, rex); fk = kind;
    } else if (form == 2 && mod == 3) { // Gb, Eb
      f = FAST_ALU8_RR; fa = byteReg(reg, rex); fb = byteReg(rm, rex); fk = kind;
    } else if (form == 2 && kind == 7) { // CMP Gb, [mem]
      f = FAST_CMP8_RM; fa = byteReg(reg, rex);
    } else if (form == 4 && kind == 7) { // CMP AL, imm8
      f = FAST_CMP8_RI; fa = 0; newImm = imm & 0xff;
    }
  } else if ((op == 0x81 || op == 0x83) && wide) {
    if (mod == 3) { f = FAST_ALU_RI + <u8>(r3 << 1) + w64; fa = rm; newImm = imm & m32; }
    else { f = FAST_ALU_MI; fk = r3; newImm = imm & m32; }
  } else if (op == 0x80 && r3 == 7) {
    if (mod == 3) { f = FAST_CMP8_RI; fa = byteReg(rm, rex); } else f = FAST_CMP8_MI;
    newImm = imm & 0xff;
  } else if (op == 0x85 && mod == 3 && wide) {
    f = w64 != 0 ? FAST_TEST_RR64 : FAST_TEST_RR32; fa = rm; fb = reg;
  } else if (op == 0x84 && mod == 3) {
    f = FAST_TEST8_RR; fa = byteReg(rm, rex); fb = byteReg(reg, rex);
  } else if (op == 0xa8) {
    f = FAST_TEST8_RI; fa = 0; newImm = imm & 0xff;
  } else if (op == 0xa9 && wide) {
    f = w64 != 0 ? FAST_TEST_RI64 : FAST_TEST_RI32; fa = 0; newImm = imm & m32;
  } else if (op == 0xf6 && r3 < 2) {
    if (mod == 3) { f = FAST_TEST8_RI; fa = byteReg(rm, rex); } else f = FAST_TEST8_MI;
    newImm = imm & 0xff;
  } else if (op == 0xf7 && mod == 3 && wide) {
    if (r3 < 2) { f = w64 != 0 ? FAST_TEST_RI64 : FAST_TEST_RI32; fa = rm; newImm = imm & m32; }
    else if (r3 == 2) { f = w64 != 0 ? FAST_NOT64 : FAST_NOT32; fa = rm; }
  } else if ((op == 0x89 || op == 0x8b) && wide) {
    if (mod == 3) { f = w64 != 0 ? FAST_MOV_RR64 : FAST_MOV_RR32; if (op == 0x89) { fa = rm; fb = reg; } else { fa = reg; fb = rm; } }
    else if (op == 0x8b) { f = w64 != 0 ? FAST_LOAD64 : FAST_LOAD32; fa = reg; }
    else { f = w64 != 0 ? FAST_STORE64 : FAST_STORE32; fb = reg; }
  } else if (op == 0x89 && osize == 2 && mod != 3) {
    f = FAST_STORE16; fb = reg;
  } else if (op == 0x88 && mod != 3) {
    f = FAST_STORE8; fb = byteReg(reg, rex);
  } else if (op == 0xc6 && mod != 3 && r3 == 0) {
    f = FAST_STORE8_IMM; newImm = imm & 0xff;
  } else if (op == 0xc7 && r3 == 0 && wide) {
    if (mod == 3) { f = FAST_MOV_RI; fa = rm; } else f = w64 != 0 ? FAST_STORE_IMM64 : FAST_STORE_IMM32;
    newImm = imm & m32;
  } else if (op >= 0xb8 && op <= 0xbf && wide) {
    f = FAST_MOV_RI; fa = (op & 7) | ((rex & 1) << 3); newImm = imm & m32;
  } else if (op == 0x8d && mod != 3 && wide) {
    f = w64 != 0 ? FAST_LEA64 : FAST_LEA32; fa = reg;
  } else if (op == 0x63 && mode64 && osize == 8) {
    if (mod == 3) { f = FAST_MOVSXD; fa = reg; fb = rm; } else { f = FAST_MOVSXD_M; fa = reg; }
  } else if (op == 0x1b6 && wide) {
    if (mod == 3) { f = FAST_MOVZX8_R; fa = reg; fb = byteReg(rm, rex); } else { f = FAST_MOVZX8; fa = reg; }
  } else if (op == 0x1b7 && wide && mod != 3) {
    f = FAST_MOVZX16; fa = reg;
  } else if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f)) {
    if (nearOk) { f = FAST_JCC + <u8>((op & 15) >> 1); fk = op & 1; }
  } else if (op >= 0x140 && op <= 0x14f && mod == 3 && wide) {
    f = FAST_CMOV + <u8>((op & 15) >> 1); fk = op & 1; fa = reg; fb = rm;
  } else if (op >= 0x190 && op <= 0x19f && mod == 3) {
    f = FAST_SETCC + <u8>((op & 15) >> 1); fk = op & 1; fa = byteReg(rm, rex);
  } else if (op == 0xe9 || op == 0xeb) {
    if (nearOk) f = FAST_JMP;
  } else if (op == 0xff && mod == 3 && wide && r3 < 2) {
    f = r3 == 0 ? (w64 != 0 ? FAST_INC64 : FAST_INC32) : (w64 != 0 ? FAST_DEC64 : FAST_DEC32); fa = rm;
  } else if (op == 0xff && stack64 && (r3 == 2 || r3 == 4)) {
    f = r3 == 2 ? FAST_CALL_IND : FAST_JMP_IND;
    if (mod == 3) { fb = rm; fk = 1; }
  } else if (stack64 && op >= 0x50 && op <= 0x57) {
    f = FAST_PUSH; fb = (op & 7) | ((rex & 1) << 3);
  } else if (stack64 && op >= 0x58 && op <= 0x5f) {
    f = FAST_POP; fa = (op & 7) | ((rex & 1) << 3);
  } else if (stack64 && op == 0xe8) {
    f = FAST_CALL;
  } else if (stack64 && op == 0xc3) {
    f = FAST_RET; // REP RET is RET
  } else if ((op == 0xc1 || op == 0xd1 || op == 0xd3) && mod == 3 && wide) {
    const count = op == 0xc1 ? 0 : op == 0xd1 ? 1 : 2;
    if (r3 == 4 || r3 == 5 || r3 == 7) {
      f = FAST_SHIFT + <u8>((r3 == 4 ? 0 : r3 == 5 ? 2 : 4) + (count == 2 ? 6 : 0)) + w64; fa = rm;
      if (count == 1) newImm = 1; // shift by one: the immediate form with count 1
    } else if (r3 < 2 && count != 2) {
      f = FAST_ROT + <u8>(r3 << 1) + w64; fa = rm;
      if (count == 1) newImm = 1;
    }
  } else if ((op == 0x90 && (rex & 1) == 0) || op == 0x11f) {
    f = FAST_NOP;
  } else if ((op == 0x69 || op == 0x6b) && mod == 3 && wide) {
    f = FAST_IMUL_RRI; fa = reg; fb = rm;
  } else if (op == 0x1af && mod == 3 && wide) {
    f = FAST_IMUL_RR; fa = reg; fb = rm;
  }
  store<u8>(rec + D_FAST, f);
  if (f != FAST_NONE) {
    // 64-bit addressing through ES/CS/SS/DS: no segment base, no wrap.
    store<u8>(rec + D_FLAT, mode64 && load<u8>(rec + D_ASIZE) == 8 && load<u8>(rec + D_SEG) < 4 ? 1 : 0);
  }
  store<i64>(rec + D_IMM, newImm);
  store<u8>(rec + D_FA, <u8>fa);
  store<u8>(rec + D_FB, <u8>fb);
  store<u8>(rec + D_FK, <u8>fk);
}
