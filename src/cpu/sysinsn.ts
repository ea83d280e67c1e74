// System instructions: control and debug registers, descriptor-table
// registers, MSRs, CPUID, fast system calls, HLT, CLI/STI and port I/O,
// each with the intercept check a VT-x/SVM control block would make.
import { CONTROL, MSR_BITMAP, IO_BITMAP } from './layout';
import {
  reg64, setReg64, regN, setRegN, st64, setSt64, segSel, segAttr, segBase, setSegBase, segLimit,
  O_CR0, O_CR2, O_CR3, O_CR4, O_CR8, O_DR, O_EFER, O_STAR, O_LSTAR, O_CSTAR, O_FMASK, O_KGSBASE,
  O_GDTR_BASE, O_GDTR_LIMIT, O_IDTR_BASE, O_IDTR_LIMIT, O_SYSENTER_CS, O_SYSENTER_ESP, O_SYSENTER_EIP, O_TSC_AUX,
  CR0_PE, CR0_PG, CR0_TS, CR0_WP, CR0_ET, CR0_NW, CR0_CD, CR4_PAE, CR4_PGE, CR4_PSE, CR4_SMEP, CR4_PCIDE, CR4_TSD,
  CR4_FSGSBASE, CR4_SMAP, CR4_UMIP, EFER_LME, EFER_LMA, EFER_SCE, SEG_CS, SEG_SS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR,
  STATE, O_FLAGS, F_IF, F_IOPL, F_VM, F_RF, F_AC, F_ARITH, ATTR_L, ATTR_DB, ATTR_G,
  cpl, mode64, protectedMode,
} from './state';
import { dReg, dRm, dOsize, dPfx, dImm, isRegForm, memLa, rmRead, nextRip, setNextRip, dLen } from './operand';
import { P_REXW, P_REP } from './decode';
import { readN, writeN, sysRead, sysWrite } from './mem';
import { fault, gp, ud, setExitField, exitBeforeEffects, pendingExit, emulationFailure, UD, GP, NP } from './fault';
import { getFlags, setFlagBits, materializeFlags } from './flags';
import { tlbFlushAll, tlbFlushNonGlobal, tlbFlushPage } from './paging';
import { modeChanged, readDescriptor, descBase, descLimit, descAttr, setSegment, descHi } from './system';
import { rdmsr, wrmsr, msrMissing, tscValue } from './msr';
import { debugRegistersChanged } from './debug';
import { cpuidLookup, outA, outB, outC, outD } from './cpuid';
import { controls, setInterruptShadow } from './events';
import { setActivity } from './run';
import { ioIn, ioOut } from './bus';
import { Exit, ExitField, Control, EmulationFailure, CpuFeature } from '../backend/abi';
import { unimplemented } from './unimplemented';

function requireCpl0(): void { if (protectedMode && cpl != 0) gp(0); }
/** UMIP: SGDT, SIDT, SLDT, SMSW and STR are #GP(0) outside CPL 0 when CR4.UMIP is set. */
function umipCheck(): void { if (cpl > 0 && (st64(O_CR4) & CR4_UMIP) != 0) gp(0); }

export function execSystem(op: i32): void {
  switch (op & 0xff) {
    case 0x00: group6(); return;
    case 0x01: group7(); return;
    case 0x02: case 0x03: larLsl((op & 1) != 0); return;
    case 0x05: syscall(); return;
    case 0x06: requireCpl0(); setSt64(O_CR0, st64(O_CR0) & ~CR0_TS); return;
    case 0x07: sysret(); return;
    case 0x08: case 0x09: requireCpl0(); return; // INVD, WBINVD: no caches to manage
    case 0x20: movFromCr(); return;
    case 0x22: movToCr(dReg(), reg64(dRm())); return;
    case 0x21: movFromDr(); return;
    case 0x23: movToDr(); return;
    case 0x30: wrmsrInsn(); return;
    case 0x31: rdtsc(false); return;
    case 0x32: rdmsrInsn(); return;
    case 0x33: gp(0); return; // RDPMC: no performance counters
    case 0x34: sysenter(); return;
    case 0x35: sysexit(); return;
    case 0xa2: cpuid(); return;
    case 0xae: group15Reg(); return;
    case 0xc7: unimplemented((dReg() & 7) == 6 ? CpuFeature.RDRAND : CpuFeature.RDSEED, 0x1c7); return;
    default: ud();
  }
}

// ---- control registers ----
function movFromCr(): void {
  requireCpl0();
  const n = dReg();
  let v: i64;
  switch (n) {
    case 0: v = st64(O_CR0); break;
    case 2: v = st64(O_CR2); break;
    case 3: v = st64(O_CR3); break;
    case 4: v = st64(O_CR4); break;
    case 8: v = st64(O_CR8); break;
    default: ud(); return;
  }
  if (mode64) setReg64(dRm(), v); else setRegN(dRm(), 4, false, v);
}

// SMEP, SMAP and UMIP are implemented, so CR4 accepts them whatever CPUID says: as on hardware whose
// hypervisor hides a feature, the guest's view of CPUID (which a hypapp may answer) does not change CR4.
const CR4_SUPPORTED: i64 = 0x1 | 0x2 | 0x4 | 0x8 | CR4_PSE | CR4_PAE | 0x40 | CR4_PGE | 0x100 | 0x200 | 0x400 |
  CR4_UMIP | CR4_FSGSBASE | CR4_PCIDE | CR4_SMEP | CR4_SMAP;
/**
 * CR4 bits the architecture defines that this CPU does not implement (LA57, VMXE, SMXE, OSXSAVE, KL, PKE,
 * CET, PKS, UINTR): a write setting one is an emulation failure, not the #GP of a reserved bit, since a
 * guest sets them only when told (by a hypapp's CPUID answer) that it may.
 */
export const CR4_UNIMPLEMENTED: i64 = (1 << 12) | (1 << 13) | (1 << 14) | (1 << 18) | (1 << 19) | (0xf << 22);

/** MOV to CRn (also LMSW/CLTS paths); exits first if the control block asks. */
export function movToCr(n: i32, vIn: i64): void {
  requireCpl0();
  let v = mode64 ? vIn : vIn & 0xffffffff;
  const c = controls();
  if ((n == 0 && (c & Control.CR0_WRITE_EXITING) != 0) || (n == 3 && (c & Control.CR3_WRITE_EXITING) != 0) ||
      (n == 4 && (c & Control.CR4_WRITE_EXITING) != 0)) {
    setExitField(ExitField.NUMBER, n);
    setExitField(ExitField.VALUE, v);
    setExitField(ExitField.INSTR_LEN, dLen());
    exitBeforeEffects(Exit.CR_WRITE);
    return;
  }
  writeCr(n, v);
}

/** Whether writing `v` to CRn (0, 3, 4 or 8) raises #GP: reserved bits, or paging settings that contradict. */
export function crWriteFaults(n: i32, v: i64): bool {
  if (n == 0) {
    v |= CR0_ET;
    const old = st64(O_CR0);
    return (v >>> 32) != 0 || ((v & CR0_PG) != 0 && (v & CR0_PE) == 0) || ((v & CR0_NW) != 0 && (v & CR0_CD) == 0) ||
      ((v & CR0_PG) != 0 && (old & CR0_PG) == 0 && (st64(O_EFER) & EFER_LME) != 0 && (st64(O_CR4) & CR4_PAE) == 0) ||
      ((v & CR0_PG) == 0 && (old & CR0_PG) != 0 && mode64);
  }
  if (n == 4) {
    return (v & ~CR4_SUPPORTED) != 0 ||
      ((st64(O_CR4) & CR4_PAE) != 0 && (v & CR4_PAE) == 0 && (st64(O_EFER) & EFER_LMA) != 0);
  }
  return false;
}

/** The architectural effect of a CR write (also used when the core completes an intercepted write). */
export function writeCr(n: i32, v: i64): void {
  if (n == 4 && (v & CR4_UNIMPLEMENTED) != 0) { emulationFailure(EmulationFailure.CR4_BITS, v & CR4_UNIMPLEMENTED, 0); return; }
  if (crWriteFaults(n, v)) { gp(0); return; }
  switch (n) {
    case 0: {
      v |= CR0_ET;
      const old = st64(O_CR0);
      let efer = st64(O_EFER);
      if ((v & CR0_PG) != 0 && (old & CR0_PG) == 0 && (efer & EFER_LME) != 0) efer |= EFER_LMA;
      else if ((v & CR0_PG) == 0 && (old & CR0_PG) != 0) efer &= ~EFER_LMA;
      setSt64(O_EFER, efer);
      setSt64(O_CR0, v);
      if (((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) != 0) tlbFlushAll();
      modeChanged();
      return;
    }
    case 2: setSt64(O_CR2, v); return;
    case 3: {
      const pcide = (st64(O_CR4) & CR4_PCIDE) != 0;
      const keep = pcide && (v >>> 63) != 0; // bit 63: do not flush
      v &= 0x7fffffffffffffff;
      setSt64(O_CR3, v);
      if (!keep) {
        if ((st64(O_CR4) & CR4_PGE) != 0) tlbFlushNonGlobal(); else tlbFlushAll();
      }
      return;
    }
    case 4: {
      const old = st64(O_CR4);
      setSt64(O_CR4, v);
      if (((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE)) != 0) tlbFlushAll();
      modeChanged();
      return;
    }
    case 8: setSt64(O_CR8, v & 15); return;
    default: ud();
  }
}

function movFromDr(): void {
  requireCpl0();
  let n = dReg();
  if (n == 4 || n == 5) n += 2;
  let off: usize;
  if (n < 4) off = O_DR + (<usize>n << 3);
  else if (n == 6) off = O_DR + 32;
  else if (n == 7) off = O_DR + 40;
  else { ud(); return; }
  setReg64(dRm(), st64(off));
}
function movToDr(): void {
  requireCpl0();
  let n = dReg();
  if (n == 4 || n == 5) n += 2;
  const v = reg64(dRm());
  if (n < 4) setSt64(O_DR + (<usize>n << 3), v);
  else if (n == 6) setSt64(O_DR + 32, (v & 0xf00f) | 0xffff0ff0);
  else if (n == 7) setSt64(O_DR + 40, (v & 0xffffffff) | 0x400);
  else { ud(); return; }
  debugRegistersChanged();
  tlbFlushAll(); // watched pages must leave the TLB
}

// ---- MSRs ----
/** True if the MSR bitmap asks for an exit on this access. */
function msrIntercepted(idx: u32, write: bool): bool {
  if ((controls() & Control.USE_MSR_BITMAP) == 0) return false;
  let base: usize;
  if (idx <= 0x1fff) base = MSR_BITMAP;
  else if (idx >= 0xc0000000 && idx <= 0xc0001fff) base = MSR_BITMAP + 1024;
  else return true; // outside both ranges: always exits, as in VMX
  if (write) base += 2048;
  const bit = idx & 0x1fff;
  return (load<u8>(base + (bit >> 3)) & (1 << (bit & 7))) != 0;
}

function rdmsrInsn(): void {
  requireCpl0();
  const idx = <u32>reg64(1);
  if (msrIntercepted(idx, false)) {
    setExitField(ExitField.NUMBER, <i64>idx);
    setExitField(ExitField.INSTR_LEN, dLen());
    exitBeforeEffects(Exit.MSR_READ);
    return;
  }
  const v = rdmsr(idx);
  if (msrMissing) { gp(0); return; }
  setReg64(0, v & 0xffffffff);
  setReg64(2, v >>> 32);
}

function wrmsrInsn(): void {
  requireCpl0();
  const idx = <u32>reg64(1);
  const v = (reg64(0) & 0xffffffff) | (reg64(2) << 32);
  if (msrIntercepted(idx, true)) {
    setExitField(ExitField.NUMBER, <i64>idx);
    setExitField(ExitField.VALUE, v);
    setExitField(ExitField.INSTR_LEN, dLen());
    exitBeforeEffects(Exit.MSR_WRITE);
    return;
  }
  if (!wrmsr(idx, v)) gp(0);
}

function rdtsc(withAux: bool): void {
  if ((st64(O_CR4) & CR4_TSD) != 0 && cpl != 0) { gp(0); return; }
  const t = tscValue();
  setReg64(0, t & 0xffffffff);
  setReg64(2, t >>> 32);
  if (withAux) setReg64(1, st64(O_TSC_AUX) & 0xffffffff);
}

function cpuid(): void {
  if ((controls() & Control.CPUID_EXITING) != 0) {
    setExitField(ExitField.NUMBER, reg64(0) & 0xffffffff);
    setExitField(ExitField.EXTRA, reg64(1) & 0xffffffff);
    setExitField(ExitField.INSTR_LEN, dLen());
    exitBeforeEffects(Exit.CPUID);
    return;
  }
  cpuidLookup(<i32>reg64(0), <i32>reg64(1));
  setReg64(0, <i64><u32>outA); setReg64(3, <i64><u32>outB);
  setReg64(1, <i64><u32>outC); setReg64(2, <i64><u32>outD);
}

// ---- descriptor tables ----
function group6(): void {
  const k = dReg() & 7;
  if (!protectedMode) { ud(); return; }
  switch (k) {
    case 0: umipCheck(); storeSelector(segSel(SEG_LDTR)); return;  // SLDT
    case 1: umipCheck(); storeSelector(segSel(SEG_TR)); return;    // STR
    case 2: requireCpl0(); lldt(<i32>rmRead(2) & 0xffff); return;
    case 3: requireCpl0(); ltr(<i32>rmRead(2) & 0xffff); return;
    case 4: case 5: { // VERR / VERW
      const sel = <i32>rmRead(2) & 0xffff;
      let ok = (sel & ~3) != 0 && readDescriptor(sel);
      if (ok) {
        const a = descAttr();
        const isCode = (a & 8) != 0, rw = (a & 2) != 0, s = (a & 0x10) != 0;
        const dpl = (a >> 5) & 3, conforming = isCode && (a & 4) != 0;
        ok = s && (k == 4 ? (!isCode || rw) : (!isCode && rw)) && (conforming || (dpl >= cpl && dpl >= (sel & 3)));
      }
      setFlagBits(0x40, ok ? 0x40 : 0);
      return;
    }
    default: ud();
  }
}
function storeSelector(sel: i32): void {
  if (isRegForm()) setRegN(dRm(), dOsize(), false, <i64>sel);
  else writeN(memLa(), 2, <i64>sel);
}

function lldt(sel: i32): void {
  if ((sel & ~3) == 0) { setSegment(SEG_LDTR, sel, 0, 0, 0); return; }
  if ((sel & 4) != 0 || !readDescriptor(sel)) { gp(sel & ~3); return; }
  if ((descAttr() & 0x1f) != 2) { gp(sel & ~3); return; }
  if ((descAttr() & 0x80) == 0) { fault(NP, sel & ~3); return; }
  let base = descBase();
  if (mode64) base |= readUpperBase(sel);
  setSegment(SEG_LDTR, sel, base, descLimit(), descAttr());
}

function readUpperBase(sel: i32): i64 {
  // 16-byte system descriptors in long mode: bits 63:32 of the base follow.
  return readN(st64(O_GDTR_BASE) + <i64>(sel & ~7) + 8, 4) << 32;
}

function ltr(sel: i32): void {
  if ((sel & ~3) == 0 || (sel & 4) != 0 || !readDescriptor(sel)) { gp(sel & ~3); return; }
  const type = descAttr() & 0x1f;
  if (type != 9 && type != 1) { gp(sel & ~3); return; } // available 32/64-bit or 16-bit TSS
  if ((descAttr() & 0x80) == 0) { fault(NP, sel & ~3); return; }
  let base = descBase();
  if ((st64(O_EFER) & EFER_LMA) != 0) base |= readUpperBase(sel);
  // Mark it busy in the GDT.
  sysWrite(st64(O_GDTR_BASE) + <i64>(sel & ~7) + 5, 1, <i64>((descHi >>> 8) & 0xff) | 2);
  setSegment(SEG_TR, sel, base, descLimit(), descAttr() | 2);
}

function group7(): void {
  const k = dReg() & 7;
  if (isRegForm()) { group7Reg(k, dRm() & 7); return; }
  const la = memLa();
  switch (k) {
    case 0: case 1: { // SGDT / SIDT
      umipCheck();
      const base = st64(k == 0 ? O_GDTR_BASE : O_IDTR_BASE);
      const limit = st64(k == 0 ? O_GDTR_LIMIT : O_IDTR_LIMIT);
      writeN(la, 2, limit);
      if (mode64) writeN(la + 2, 8, base); else writeN(la + 2, 4, dOsize() == 2 ? base & 0xffffff : base);
      return;
    }
    case 2: case 3: { // LGDT / LIDT
      requireCpl0();
      const limit = readN(la, 2);
      let base = mode64 ? readN(la + 2, 8) : readN(la + 2, 4);
      if (!mode64 && dOsize() == 2) base &= 0xffffff;
      setSt64(k == 2 ? O_GDTR_BASE : O_IDTR_BASE, base);
      setSt64(k == 2 ? O_GDTR_LIMIT : O_IDTR_LIMIT, limit);
      return;
    }
    case 4: umipCheck(); writeN(la, 2, st64(O_CR0) & 0xffff); return; // SMSW m16
    case 6: lmsw(<i32>readN(la, 2)); return;
    case 7: requireCpl0(); tlbFlushPage(la); return; // INVLPG
    default: ud();
  }
}

function lmsw(v: i32): void {
  requireCpl0();
  const cr0 = st64(O_CR0);
  // LMSW can set PE but not clear it, and touches only bits 0..3.
  movToCr(0, (cr0 & ~0xe) | (<i64>v & 0xf) | (cr0 & 1));
}

function group7Reg(k: i32, rm: i32): void {
  switch (k) {
    case 0:
      if (rm == 1) { vmcall(); return; } // VMCALL
      ud(); return;
    case 1:
      if (rm == 0 || rm == 1) { requireCpl0(); return; } // MONITOR / MWAIT as no-ops (MWAIT not advertised)
      if (rm == 2 || rm == 3) { // CLAC / STAC: #UD outside CPL 0 (SMAP is implemented: see CR4_SUPPORTED)
        if (protectedMode && cpl != 0) { ud(); return; }
        setFlagBits(F_AC, rm == 3 ? F_AC : 0);
        return;
      }
      ud(); return;
    case 2:
      if (rm == 0 || rm == 1) { unimplemented(CpuFeature.XSAVE, 0x101); return; } // XGETBV, XSETBV
      ud(); return;
    case 3:
      if (rm == 1) { vmcall(); return; } // VMMCALL
      ud(); return;
    case 4: umipCheck(); setRegN(dRm(), dOsize(), false, st64(O_CR0) & (dOsize() == 2 ? 0xffff : 0xffffffff)); return; // SMSW r
    case 6: lmsw(<i32>reg64(dRm())); return;
    case 7:
      if (rm == 0) { // SWAPGS
        if (!mode64) { ud(); return; }
        requireCpl0();
        const g = segBase(SEG_GS);
        setSegBase(SEG_GS, st64(O_KGSBASE));
        setSt64(O_KGSBASE, g);
        return;
      }
      if (rm == 1) { rdtsc(true); return; } // RDTSCP
      ud(); return;
    default: ud();
  }
}

function vmcall(): void {
  setExitField(ExitField.INSTR_LEN, dLen());
  exitBeforeEffects(Exit.VMCALL);
}

function larLsl(lsl: bool): void {
  if (!protectedMode) { ud(); return; }
  const sel = <i32>rmRead(2) & 0xffff;
  let ok = (sel & ~3) != 0 && readDescriptor(sel);
  if (ok) {
    const a = descAttr();
    const s = (a & 0x10) != 0, type = a & 15;
    const dpl = (a >> 5) & 3, conforming = s && (a & 8) != 0 && (a & 4) != 0;
    if (!s) ok = lsl ? (type == 1 || type == 2 || type == 3 || type == 9 || type == 11) :
      (type == 1 || type == 2 || type == 3 || type == 9 || type == 11 || type == 4 || type == 12);
    if (ok && !conforming && (dpl < cpl || dpl < (sel & 3))) ok = false;
  }
  if (ok) {
    const sz = dOsize();
    if (lsl) setRegN(dReg(), sz == 2 ? 2 : sz, false, <i64>descLimit());
    else setRegN(dReg(), sz == 2 ? 2 : sz, false, (descHi & 0x00f0ff00));
  }
  setFlagBits(0x40, ok ? 0x40 : 0);
}

// ---- fast system calls ----
function syscall(): void {
  const efer = st64(O_EFER);
  if ((efer & EFER_SCE) == 0) { ud(); return; }
  const star = st64(O_STAR);
  const sel = <i32>((star >>> 32) & 0xfffc);
  materializeFlags();
  const flags = load<i32>(STATE + O_FLAGS);
  if ((efer & EFER_LMA) != 0) {
    // The entry point depends on the mode the call came from: read it before CS changes.
    const entry = mode64 ? st64(O_LSTAR) : st64(O_CSTAR);
    setReg64(1, nextRip);
    setReg64(11, <i64>(flags & ~F_RF));
    store<i32>(STATE + O_FLAGS, (flags & ~<i32>st64(O_FMASK) & ~F_RF) | 2);
    setSegment(SEG_CS, sel, 0, 0xffffffff, 0xaf9b);
    setSegment(SEG_SS, sel + 8, 0, 0xffffffff, 0xcf93);
    modeChanged();
    setNextRip(entry);
  } else {
    setReg64(1, nextRip & 0xffffffff);
    store<i32>(STATE + O_FLAGS, flags & ~(F_IF | F_RF | F_VM));
    setSegment(SEG_CS, sel, 0, 0xffffffff, 0xcf9b);
    setSegment(SEG_SS, sel + 8, 0, 0xffffffff, 0xcf93);
    modeChanged();
    setNextRip(star & 0xffffffff);
  }
}

function sysret(): void {
  const efer = st64(O_EFER);
  if ((efer & EFER_SCE) == 0) { ud(); return; }
  if (!protectedMode || cpl != 0) { gp(0); return; }
  const star = st64(O_STAR);
  const base = <i32>((star >>> 48) & 0xffff);
  if ((dPfx() & P_REXW) != 0) {
    const target = reg64(1);
    if (((target << 16) >> 16) != target) { gp(0); return; }
    setSegment(SEG_CS, ((base + 16) & 0xfffc) | 3, 0, 0xffffffff, 0xaffb);
    setNextRip(target);
  } else {
    setSegment(SEG_CS, (base & 0xfffc) | 3, 0, 0xffffffff, 0xcffb);
    setNextRip(reg64(1) & 0xffffffff);
  }
  setSegment(SEG_SS, ((base + 8) & 0xfffc) | 3, 0, 0xffffffff, 0xcff3);
  if ((efer & EFER_LMA) != 0) {
    materializeFlags();
    store<i32>(STATE + O_FLAGS, (<i32>reg64(11) & ~(F_RF | F_VM)) | 2);
  } else {
    setFlagBits(F_IF, F_IF);
  }
  modeChanged();
}

function sysenter(): void {
  const cs = <i32>st64(O_SYSENTER_CS) & 0xfffc;
  if (!protectedMode || cs == 0) { gp(0); return; }
  materializeFlags();
  store<i32>(STATE + O_FLAGS, load<i32>(STATE + O_FLAGS) & ~(F_IF | F_VM | F_RF));
  const lm = (st64(O_EFER) & EFER_LMA) != 0;
  setSegment(SEG_CS, cs, 0, 0xffffffff, lm ? 0xaf9b : 0xcf9b);
  setSegment(SEG_SS, cs + 8, 0, 0xffffffff, 0xcf93);
  modeChanged();
  setReg64(4, lm ? st64(O_SYSENTER_ESP) : st64(O_SYSENTER_ESP) & 0xffffffff);
  setNextRip(lm ? st64(O_SYSENTER_EIP) : st64(O_SYSENTER_EIP) & 0xffffffff);
}

function sysexit(): void {
  const cs = <i32>st64(O_SYSENTER_CS) & 0xfffc;
  if (!protectedMode || cpl != 0 || cs == 0) { gp(0); return; }
  const to64 = (dPfx() & P_REXW) != 0;
  setSegment(SEG_CS, ((cs + (to64 ? 32 : 16)) & 0xfffc) | 3, 0, 0xffffffff, to64 ? 0xaffb : 0xcffb);
  setSegment(SEG_SS, ((cs + (to64 ? 40 : 24)) & 0xfffc) | 3, 0, 0xffffffff, 0xcff3);
  modeChanged();
  setReg64(4, to64 ? reg64(1) : reg64(1) & 0xffffffff);
  setNextRip(to64 ? reg64(2) : reg64(2) & 0xffffffff);
}

// ---- group 15 register forms and CLFLUSH ----
function group15Reg(): void {
  const k = dReg() & 7;
  if (!isRegForm()) {
    if (k == 7) return; // CLFLUSH: nothing is cached
    unimplemented(CpuFeature.XSAVE, 0x1ae); return; // XSAVE, XRSTOR, XSAVEOPT
  }
  if ((dPfx() & P_REP) != 0 && k < 4) { // RDFSBASE RDGSBASE WRFSBASE WRGSBASE
    if (!mode64 || (st64(O_CR4) & CR4_FSGSBASE) == 0) { ud(); return; }
    const seg = (k & 1) == 0 ? SEG_FS : SEG_GS;
    const sz = dOsize() == 8 ? 8 : 4;
    if (k < 2) setRegN(dRm(), sz, false, segBase(seg));
    else {
      const v = sz == 8 ? reg64(dRm()) : reg64(dRm()) & 0xffffffff;
      if (((v << 16) >> 16) != v) { gp(0); return; }
      setSegBase(seg, v);
    }
    return;
  }
  if (k >= 5) return; // LFENCE MFENCE SFENCE
  ud();
}

// ---- HLT, CLI, STI ----
export function hlt(): void {
  requireCpl0();
  if ((controls() & Control.HLT_EXITING) != 0) {
    setExitField(ExitField.INSTR_LEN, dLen());
    exitBeforeEffects(Exit.HLT);
    return;
  }
  setActivity(1);
}

function iopl(): i32 { return (getFlags() & F_IOPL) >> 12; }

export function cli(): void {
  if (protectedMode && cpl > iopl()) { gp(0); return; }
  setFlagBits(F_IF, 0);
}
export function sti(): void {
  if (protectedMode && cpl > iopl()) { gp(0); return; }
  if ((getFlags() & F_IF) == 0) setInterruptShadow(1);
  setFlagBits(F_IF, F_IF);
}

// ---- port I/O ----
/** A value supplied by completeIo() for the intercepted access being re-executed. */
export let ioCompletion = false;
let ioCompletionValue: i32 = 0;
export function completeIo(v: i32): void { ioCompletion = true; ioCompletionValue = v; }
export function saveIoState(p: usize): void { store<i32>(p, ioCompletion ? 1 : 0); store<i32>(p + 4, ioCompletionValue); }
export function loadIoState(p: usize): void { ioCompletion = load<i32>(p) != 0; ioCompletionValue = load<i32>(p + 4); }

function ioPermitted(port: i32, size: i32): bool {
  if (!protectedMode) return true;
  if (cpl <= iopl() && (getFlags() & F_VM) == 0) return true;
  // The TSS I/O permission bitmap.
  const tssLimit = <i64>segLimit(SEG_TR);
  if (tssLimit < 0x67) return false;
  // The TSS is read as a supervisor access whatever the CPL (an implicit system access).
  const mapBase = sysRead(segBase(SEG_TR) + 0x66, 2);
  const byte = mapBase + (port >> 3);
  if (byte + 1 > tssLimit) return false;
  const bits = <i32>sysRead(segBase(SEG_TR) + byte, 2);
  return ((bits >> (port & 7)) & ((1 << size) - 1)) == 0;
}

/** #GP(0) unless the current privilege may access `size` ports from `port`. */
export function checkIoPermission(port: i32, size: i32): void {
  if (!ioPermitted(port, size)) gp(0);
}

function ioIntercepted(port: i32, size: i32): bool {
  if ((controls() & Control.USE_IO_BITMAP) == 0) return false;
  for (let p = port; p < port + size; p++) {
    const q = p & 0xffff;
    if ((load<u8>(IO_BITMAP + (q >> 3)) & (1 << (q & 7))) != 0) return true;
  }
  return false;
}

/**
 * One port access of an I/O instruction: checks permission, honours a pending
 * completion, exits if intercepted, else asks the platform. Returns the value read.
 */
export function portAccess(port: i32, size: i32, isIn: bool, value: i32, isString: bool, rep: bool): i32 {
  if (!ioPermitted(port, size)) { gp(0); return 0; }
  if (ioCompletion) {
    ioCompletion = false;
    return ioCompletionValue;
  }
  if (ioIntercepted(port, size)) {
    setExitField(ExitField.NUMBER, port);
    setExitField(ExitField.SIZE, size);
    setExitField(ExitField.DIRECTION, isIn ? 1 : 0);
    setExitField(ExitField.VALUE, <i64><u32>value);
    setExitField(ExitField.FLAGS, isString ? 1 : 0);
    setExitField(ExitField.EXTRA, rep ? 1 : 0);
    setExitField(ExitField.INSTR_LEN, dLen());
    exitBeforeEffects(Exit.IO);
    return 0;
  }
  if (isIn) {
    const v = ioIn(port, size);
    return size == 4 ? v : v & ((1 << (size << 3)) - 1);
  }
  ioOut(port, size, size == 4 ? value : value & ((1 << (size << 3)) - 1));
  return 0;
}

/** IN/OUT with an immediate port or DX. */
export function execIo(op: i32): void {
  const size = (op & 1) == 0 ? 1 : dOsize() == 2 ? 2 : 4;
  const port = op < 0xe8 ? <i32>dImm() & 0xff : <i32>reg64(2) & 0xffff;
  const isIn = (op & 2) == 0;
  if (isIn) {
    const v = portAccess(port, size, true, 0, false, false);
    if (pendingExit != 0) return;
    setRegN(0, size, false, <i64><u32>v);
  } else {
    portAccess(port, size, false, <i32>regN(0, size, false), false, false);
  }
}
