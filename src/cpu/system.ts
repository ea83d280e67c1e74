// Protected-mode machinery: descriptor loads and checks, far transfers,
// interrupt and exception delivery in real, protected and long mode, IRET.
import { countEvent, P_EVENT_DELIVERED } from './profile';
import {
  reg64, setReg64, rip, setRip, segBase, setSegBase, segLimit, setSegLimit, segSel, setSegSel, segAttr, setSegAttr,
  st64, O_GDTR_BASE, O_GDTR_LIMIT, O_CR2, O_EFER, EFER_LMA, STATE, O_FLAGS,
  SEG_CS, SEG_SS, SEG_LDTR, SEG_TR, SEG_FS, SEG_GS, ATTR_P, ATTR_S, ATTR_L, ATTR_DB, ATTR_G,
  F_IF, F_TF, F_NT, F_RF, F_VM, F_AC, F_IOPL, F_ID, F_VIF, F_VIP, F_ARITH, F_DF,
  cpl, mode64, protectedMode, stackSize, updateMode, setSt64, O_IDTR_BASE, O_IDTR_LIMIT,
} from './state';
import { selectTlbSet, stackAccess } from './paging';
import { sysRead, sysWrite, readN, writeN } from './mem';
import { fault, gp, ud, GP, NP, SS, TS, DF, PF } from './fault';
import { getFlags, materializeFlags } from './flags';
import { setNextRip, nextRip, stackOpSize } from './operand';
import { softwareEvent, unblockNmi } from './events';

/** Recompute cached mode values after CS, SS, CR0, CR4 or EFER changed. */
export function modeChanged(): void {
  updateMode();
  selectTlbSet();
}

// ---- descriptors ----
export let descLo: i64 = 0;   // low dword
export let descHi: i64 = 0;   // high dword
let descAddr: i64 = 0;        // linear address of the descriptor

/** Read the 8-byte descriptor for `sel` (table by TI bit); false if beyond the table limit. */
export function readDescriptor(sel: i32): bool {
  const idx = <i64>(sel & ~7);
  let base: i64, limit: i64;
  if ((sel & 4) != 0) {
    if (segSel(SEG_LDTR) == 0 && (segAttr(SEG_LDTR) & ATTR_P) == 0) return false;
    base = segBase(SEG_LDTR); limit = <i64>segLimit(SEG_LDTR);
  } else {
    base = st64(O_GDTR_BASE); limit = st64(O_GDTR_LIMIT) & 0xffff;
  }
  if (idx + 7 > limit) return false;
  descAddr = base + idx;
  const v = sysRead(descAddr, 8);
  descLo = v & 0xffffffff;
  descHi = v >>> 32;
  return true;
}

export function descBase(): i64 { return ((descLo >>> 16) & 0xffff) | ((descHi & 0xff) << 16) | (descHi & 0xff000000); }
export function descLimit(): u32 {
  let l = <u32>((descLo & 0xffff) | (descHi & 0xf0000));
  if ((descHi & (1 << 23)) != 0) l = (l << 12) | 0xfff;
  return l;
}
export function descAttr(): i32 { return <i32>((descHi >>> 8) & 0xffff); }
function descDpl(): i32 { return <i32>((descHi >>> 13) & 3); }
function descPresent(): bool { return (descHi & (1 << 15)) != 0; }
function descIsCode(): bool { return (descHi & (1 << 11)) != 0; }
function descS(): bool { return (descHi & (1 << 12)) != 0; }
function descType(): i32 { return <i32>((descHi >>> 8) & 15); }

function setAccessed(): void {
  if ((descHi & (1 << 8)) == 0) {
    descHi |= 1 << 8;
    sysWrite(descAddr + 4, 4, descHi);
  }
}

export function setSegment(s: i32, sel: i32, base: i64, limit: u32, attr: i32): void {
  setSegSel(s, sel);
  setSegBase(s, base);
  setSegLimit(s, limit);
  setSegAttr(s, attr);
}

function loadFromDescriptor(s: i32, sel: i32): void {
  setSegment(s, sel, descBase(), descLimit(), descAttr());
}

/** MOV/POP/LxS to a data segment register or SS, with the protected-mode checks. */
export function loadSegReg(s: i32, sel: i32): void {
  sel &= 0xffff;
  if (!protectedMode || (getFlags() & F_VM) != 0) {
    setSegSel(s, sel);
    setSegBase(s, <i64>sel << 4);
    if ((getFlags() & F_VM) != 0) { setSegLimit(s, 0xffff); setSegAttr(s, 0xf3); }
    if (s == SEG_SS) modeChanged();
    return;
  }
  if ((sel & ~3) == 0) {
    // Null selector: allowed except for SS outside 64-bit mode (or at CPL 3).
    if (s == SEG_SS && (!mode64 || cpl == 3 || (sel & 3) != cpl)) { gp(0); return; }
    setSegment(s, sel, s == SEG_FS || s == SEG_GS ? 0 : segBase(s), 0, s == SEG_SS ? (cpl << 5) | ATTR_DB : 0);
    if (s == SEG_SS) modeChanged();
    return;
  }
  if (!readDescriptor(sel)) { gp(sel & ~3); return; }
  const rpl = sel & 3;
  if (s == SEG_SS) {
    if (rpl != cpl || !descS() || descIsCode() || (descType() & 2) == 0 || descDpl() != cpl) { gp(sel & ~3); return; }
    if (!descPresent()) { fault(SS, sel & ~3); return; }
  } else {
    if (!descS() || (descIsCode() && (descType() & 2) == 0)) { gp(sel & ~3); return; }
    const conforming = descIsCode() && (descType() & 4) != 0;
    if (!conforming && (descDpl() < cpl || descDpl() < rpl)) { gp(sel & ~3); return; }
    if (!descPresent()) { fault(NP, sel & ~3); return; }
  }
  setAccessed();
  loadFromDescriptor(s, sel);
  if (s == SEG_SS) modeChanged();
}

/** Load CS for a transfer to `sel` at privilege `newCpl` (the descriptor is in desc*). */
function loadCs(sel: i32, newCpl: i32): void {
  setAccessed();
  loadFromDescriptor(SEG_CS, (sel & ~3) | newCpl);
}

/** Check the code-segment descriptor of a far JMP/CALL/RET target; returns the new CPL. */
function checkCodeTarget(sel: i32, forReturn: bool): i32 {
  if ((sel & ~3) == 0) { gp(0); return 0; }
  if (!readDescriptor(sel)) { gp(sel & ~3); return 0; }
  if (!descS()) {
    // Call gates, task gates and TSS targets: not used by the operating systems we run.
    gp(sel & ~3);
    return 0;
  }
  if (!descIsCode()) { gp(sel & ~3); return 0; }
  const rpl = sel & 3;
  const conforming = (descType() & 4) != 0;
  if (forReturn) {
    if (rpl < cpl) { gp(sel & ~3); return 0; }
    if (conforming ? descDpl() > rpl : descDpl() != rpl) { gp(sel & ~3); return 0; }
  } else if (conforming ? descDpl() > cpl : (rpl > cpl || descDpl() != cpl)) { gp(sel & ~3); return 0; }
  if (!descPresent()) { fault(NP, sel & ~3); return 0; }
  return forReturn ? rpl : cpl;
}

export function farJump(sel: i32, off: i64): void {
  sel &= 0xffff;
  if (!protectedMode || (getFlags() & F_VM) != 0) {
    setSegment(SEG_CS, sel, <i64>sel << 4, segLimit(SEG_CS), segAttr(SEG_CS));
    setNextRip(off & 0xffffffff);
    modeChanged();
    return;
  }
  const newCpl = checkCodeTarget(sel, false);
  loadCs(sel, newCpl);
  modeChanged();
  setNextRip(mode64 ? off : off & 0xffffffff);
}

export function farCall(sel: i32, off: i64, size: i32): void {
  sel &= 0xffff;
  const oldCs = segSel(SEG_CS);
  const ret = nextRip;
  if (!protectedMode || (getFlags() & F_VM) != 0) {
    pushSame(size, <i64>oldCs);
    pushSame(size, ret);
    setSegment(SEG_CS, sel, <i64>sel << 4, segLimit(SEG_CS), segAttr(SEG_CS));
    setNextRip(off & (size == 2 ? 0xffff : 0xffffffff));
    modeChanged();
    return;
  }
  const newCpl = checkCodeTarget(sel, false);
  const sp = reg64(4);
  // Write both slots before anything commits, so a stack fault leaves RSP as it was.
  writeN(stackLinear(adjustSp(sp, -size)), size, <i64>oldCs);
  writeN(stackLinear(adjustSp(sp, -2 * size)), size, ret);
  setStackPointer(adjustSp(sp, -2 * size));
  loadCs(sel, newCpl);
  modeChanged();
  setNextRip(mode64 ? off : off & 0xffffffff);
}

/** Push at SS:RSP with `size` bytes (real-mode far calls). */
function pushSame(size: i32, v: i64): void {
  const sp = adjustSp(reg64(4), -size);
  writeN(stackLinear(sp), size, v);
  setStackPointer(sp);
}

function adjustSp(sp: i64, delta: i64): i64 {
  const n = sp + delta;
  if (stackSize == 8) return n;
  if (stackSize == 4) return n & 0xffffffff;
  return n & 0xffff;
}
function stackLinear(sp: i64): i64 {
  stackAccess();
  return mode64 ? sp : (segBase(SEG_SS) + sp) & 0xffffffff;
}
function setStackPointer(sp: i64): void {
  if (stackSize == 8) setReg64(4, sp);
  else if (stackSize == 4) setReg64(4, sp & 0xffffffff);
  else setReg64(4, (reg64(4) & ~0xffff) | (sp & 0xffff));
}
function popAt(sp: i64, size: i32): i64 { return readN(stackLinear(sp), size); }

/** RETF [imm16]. */
export function farReturn(size: i32, release: i32): void {
  const sp = reg64(4);
  const off = popAt(adjustSp(sp, 0), size);
  const sel = <i32>popAt(adjustSp(sp, size), size) & 0xffff;
  if (!protectedMode || (getFlags() & F_VM) != 0) {
    setSegment(SEG_CS, sel, <i64>sel << 4, segLimit(SEG_CS), segAttr(SEG_CS));
    setStackPointer(adjustSp(sp, 2 * size + release));
    setNextRip(off & (size == 2 ? 0xffff : 0xffffffff));
    modeChanged();
    return;
  }
  const newCpl = checkCodeTarget(sel, true);
  if (newCpl == cpl) {
    loadCs(sel, newCpl);
    setStackPointer(adjustSp(sp, 2 * size + release));
  } else {
    // Return to an outer privilege level: SS:RSP follow on the stack.
    const nsp = popAt(adjustSp(sp, 2 * size + release), size);
    const nss = <i32>popAt(adjustSp(sp, 3 * size + release), size) & 0xffff;
    loadCs(sel, newCpl);
    modeChanged();
    loadOuterStack(nss, newCpl, nsp + release, size);
  }
  modeChanged();
  setNextRip(mode64 && size == 8 ? off : off & (size == 2 ? 0xffff : 0xffffffff));
}

/** Load SS for a return to privilege `newCpl` (the checks use the new CPL, not the current one). */
function loadStackSegment(ss: i32, newCpl: i32): void {
  if ((ss & ~3) == 0) {
    if (!mode64 || newCpl == 3) { gp(0); return; }
    setSegment(SEG_SS, ss, 0, 0, (newCpl << 5) | ATTR_DB);
    return;
  }
  if ((ss & 3) != newCpl || !readDescriptor(ss)) { gp(ss & ~3); return; }
  if (!descS() || descIsCode() || (descType() & 2) == 0 || descDpl() != newCpl) { gp(ss & ~3); return; }
  if (!descPresent()) { fault(SS, ss & ~3); return; }
  setAccessed();
  loadFromDescriptor(SEG_SS, ss);
}

function loadOuterStack(ss: i32, newCpl: i32, sp: i64, size: i32): void {
  loadStackSegment(ss, newCpl);
  modeChanged();
  if (size == 8 || mode64) setReg64(4, sp);
  else if ((segAttr(SEG_SS) & ATTR_DB) != 0) setReg64(4, sp & 0xffffffff);
  else setReg64(4, (reg64(4) & ~0xffff) | (sp & 0xffff));
  // Data segments the outer level may not use become null.
  for (let s = 0; s < 6; s++) {
    if (s == SEG_CS || s == SEG_SS || s == SEG_FS || s == SEG_GS) continue;
    const a = segAttr(s);
    const isConformingCode = (a & 0x18) == 0x18 && (a & 4) != 0;
    if (((a >> 5) & 3) < newCpl && !isConformingCode) setSegment(s, 0, 0, 0, 0);
  }
}

// ---- interrupts and exceptions ----
/**
 * Deliver an event through the IVT/IDT. `error` is -1 for none; `software` is
 * 0 for hardware events, 1 for INT n/INT3/INTO (DPL checked), 2 for INT1.
 * `ret` is the RIP pushed as the return address.
 */
export function deliverEvent(vector: i32, error: i32, software: i32, ret: i64): void {
  countEvent(P_EVENT_DELIVERED);
  materializeFlags();
  if (!protectedMode) { deliverReal(vector, ret); return; }
  const errCodeExt = software == 0 ? 1 : 0; // EXT bit for errors during delivery of external events
  const lm = (st64(O_EFER) & EFER_LMA) != 0;
  const gateSize: i64 = lm ? 16 : 8;
  const idtBase = st64(O_IDTR_BASE);
  const idtLimit = st64(O_IDTR_LIMIT) & 0xffff;
  if (<i64>vector * gateSize + gateSize - 1 > idtLimit) { gp(vector * 8 + 2 + errCodeExt); return; }
  const g = sysRead(idtBase + <i64>vector * gateSize, 8);
  const gHi = lm ? sysRead(idtBase + <i64>vector * gateSize + 8, 8) : 0;
  const type = <i32>((g >>> 40) & 15);
  const dpl = <i32>((g >>> 45) & 3);
  const present = ((g >>> 47) & 1) != 0;
  const validTypes = lm ? (type == 14 || type == 15) : (type == 6 || type == 7 || type == 14 || type == 15);
  if (!validTypes) { gp(vector * 8 + 2 + errCodeExt); return; }
  if (software == 1 && dpl < cpl) { gp(vector * 8 + 2); return; }
  if (!present) { fault(NP, vector * 8 + 2 + errCodeExt); return; }
  const sel = <i32>((g >>> 16) & 0xffff);
  let off = (g & 0xffff) | ((g >>> 32) & 0xffff0000);
  if (lm) off |= gHi << 32;
  const ist = lm ? <i32>((g >>> 32) & 7) : 0;
  const trapGate = (type & 1) != 0;
  const gate32 = type >= 14;

  // Target code segment.
  if ((sel & ~3) == 0) { gp(errCodeExt); return; }
  if (!readDescriptor(sel)) { gp((sel & ~3) + errCodeExt); return; }
  if (!descS() || !descIsCode() || descDpl() > cpl) { gp((sel & ~3) + errCodeExt); return; }
  if (!descPresent()) { fault(NP, (sel & ~3) + errCodeExt); return; }
  if (lm && (descAttr() & ATTR_L) == 0) { gp((sel & ~3) + errCodeExt); return; }
  const conforming = (descType() & 4) != 0;
  const newCpl = conforming ? cpl : descDpl();
  const codeLo = descLo, codeHi = descHi, codeAddr = descAddr;

  const flags = getFlags();
  const oldCs = segSel(SEG_CS), oldSs = segSel(SEG_SS), oldSp = reg64(4);

  if (lm) {
    let sp: i64;
    if (ist != 0) sp = tssRead64(0x24 + (ist - 1) * 8);
    else if (newCpl < cpl) sp = tssRead64(4 + newCpl * 8);
    else sp = oldSp;
    sp &= ~15;
    // Write the frame with supervisor accesses, then commit.
    const n = 5 + (error >= 0 ? 1 : 0);
    sysWrite(sp - 8, 8, <i64>oldSs);
    sysWrite(sp - 16, 8, oldSp);
    sysWrite(sp - 24, 8, <i64>flags);
    sysWrite(sp - 32, 8, <i64>oldCs);
    sysWrite(sp - 40, 8, ret);
    if (error >= 0) sysWrite(sp - 48, 8, <i64>error);
    descLo = codeLo; descHi = codeHi; descAddr = codeAddr;
    loadCs(sel, newCpl);
    if (newCpl != cpl || ist != 0) {
      if (newCpl != ((segAttr(SEG_SS) >> 5) & 3)) setSegment(SEG_SS, newCpl, 0, 0, (newCpl << 5) | ATTR_DB | 0x93);
    }
    modeChanged();
    setReg64(4, sp - <i64>n * 8);
  } else {
    const size = gate32 ? 4 : 2;
    let ss = oldSs, sp = oldSp, ssBase = segBase(SEG_SS);
    let stackSwitch = newCpl < cpl;
    let newSsAttr = 0, newSsLimit: u32 = 0;
    if ((flags & F_VM) != 0) stackSwitch = true;
    if (stackSwitch) {
      // Stack from the TSS (32-bit TSS: ESP0 at 4, SS0 at 8, 8 bytes per level).
      const tssSp = tssRead(4 + newCpl * 8, 4);
      const tssSs = <i32>tssRead(8 + newCpl * 8, 2);
      if ((tssSs & ~3) == 0 || !readDescriptor(tssSs)) { fault(TS, (tssSs & ~3) + errCodeExt); return; }
      if (!descPresent()) { fault(SS, (tssSs & ~3) + errCodeExt); return; }
      ss = tssSs; sp = tssSp; ssBase = descBase();
      newSsAttr = descAttr(); newSsLimit = descLimit();
    }
    const big = stackSwitch ? (newSsAttr & ATTR_DB) != 0 : stackSize != 2;
    const wrap = big ? 0xffffffff : 0xffff;
    let p = sp;
    if ((flags & F_VM) != 0) {
      p = pushFrame(ssBase, p, size, <i64>segSel(5), wrap);
      p = pushFrame(ssBase, p, size, <i64>segSel(4), wrap);
      p = pushFrame(ssBase, p, size, <i64>segSel(3), wrap);
      p = pushFrame(ssBase, p, size, <i64>segSel(0), wrap);
    }
    if (stackSwitch) {
      p = pushFrame(ssBase, p, size, <i64>oldSs, wrap);
      p = pushFrame(ssBase, p, size, oldSp & (size == 2 ? 0xffff : 0xffffffff), wrap);
    }
    p = pushFrame(ssBase, p, size, <i64>flags, wrap);
    p = pushFrame(ssBase, p, size, <i64>oldCs, wrap);
    p = pushFrame(ssBase, p, size, ret, wrap);
    if (error >= 0) p = pushFrame(ssBase, p, size, <i64>error, wrap);
    if (stackSwitch) setSegment(SEG_SS, (ss & ~3) | newCpl, ssBase, newSsLimit, newSsAttr);
    if ((flags & F_VM) != 0) for (let s = 0; s < 6; s++) if (s != SEG_CS && s != SEG_SS) setSegment(s, 0, 0, 0, 0);
    descLo = codeLo; descHi = codeHi; descAddr = codeAddr;
    loadCs(sel, newCpl);
    modeChanged();
    if (big) setReg64(4, p & 0xffffffff); else setReg64(4, (reg64(4) & ~0xffff) | (p & 0xffff));
  }
  let nf = flags & ~(F_TF | F_NT | F_RF | F_VM);
  if (!trapGate) nf &= ~F_IF;
  store<i32>(STATE + O_FLAGS, nf);
  modeChanged();
  setRip(lm ? off : off & 0xffffffff);
  setNextRip(rip());
}

function pushFrame(ssBase: i64, sp: i64, size: i32, v: i64, wrap: i64): i64 {
  const n = (sp - size) & wrap;
  sysWrite((ssBase + n) & 0xffffffff, size, v);
  return n;
}

function tssRead(off: i32, size: i32): i64 {
  if (<u32>(off + size - 1) > segLimit(SEG_TR)) { fault(TS, segSel(SEG_TR) & ~3); return 0; }
  return sysRead(segBase(SEG_TR) + off, size);
}
function tssRead64(off: i32): i64 { return tssRead(off, 8); }

function deliverReal(vector: i32, ret: i64): void {
  const idt = st64(O_IDTR_BASE);
  if (<i64>vector * 4 + 3 > (st64(O_IDTR_LIMIT) & 0xffff)) { gp(0); return; }
  const ent = sysRead(idt + vector * 4, 4);
  const flags = getFlags();
  const sp = reg64(4);
  const ssb = segBase(SEG_SS);
  const p1 = (sp - 2) & 0xffff, p2 = (sp - 4) & 0xffff, p3 = (sp - 6) & 0xffff;
  sysWrite((ssb + p1) & 0xffffffff, 2, <i64>flags);
  sysWrite((ssb + p2) & 0xffffffff, 2, <i64>segSel(SEG_CS));
  sysWrite((ssb + p3) & 0xffffffff, 2, ret & 0xffff);
  setReg64(4, (sp & ~0xffff) | p3);
  store<i32>(STATE + O_FLAGS, flags & ~(F_IF | F_TF | F_AC | F_RF));
  const sel = <i32>((ent >>> 16) & 0xffff);
  setSegment(SEG_CS, sel, <i64>sel << 4, segLimit(SEG_CS), segAttr(SEG_CS));
  modeChanged();
  setRip(ent & 0xffff);
  setNextRip(rip());
}

/** INT n / INT3 / INTO / INT1 from the instruction stream. */
export function softwareInterrupt(vector: i32, kind: i32): void {
  // kind: 0 INT n, 1 INT3/INTO (software exceptions), 2 INT1
  if (protectedMode && (getFlags() & F_VM) != 0 && ((getFlags() & F_IOPL) >> 12) < 3 && kind == 0) { gp(0); return; }
  softwareEvent(vector, kind == 2 ? 2 : 1);
}


/** IRET/IRETD/IRETQ. */
export function iret(opSize: i32): void {
  unblockNmi(); // IRET ends NMI blocking (even if it then faults, as on hardware)
  const size = mode64 && opSize == 8 ? 8 : opSize == 8 ? 4 : opSize;
  // The popped RFLAGS replace the arithmetic flags too: no lazy result may outlive IRET.
  materializeFlags();
  const flagsNow = getFlags();
  if (!protectedMode) {
    const sp = reg64(4);
    const ip = popAt(adjustSp(sp, 0), size);
    const cs = <i32>popAt(adjustSp(sp, size), size) & 0xffff;
    const fl = <i32>popAt(adjustSp(sp, 2 * size), size);
    setStackPointer(adjustSp(sp, 3 * size));
    setSegment(SEG_CS, cs, <i64>cs << 4, segLimit(SEG_CS), segAttr(SEG_CS));
    const mask = size == 2 ? 0xffff : F_ARITH | F_TF | F_IF | F_DF | 0x800 | F_IOPL | F_NT | F_AC | F_ID | F_RF;
    store<i32>(STATE + O_FLAGS, ((flagsNow & ~mask) | (fl & mask)) | 2);
    modeChanged();
    setNextRip(ip & (size == 2 ? 0xffff : 0xffffffff));
    return;
  }
  if ((flagsNow & F_NT) != 0 && !mode64 && (st64(O_EFER) & EFER_LMA) == 0) { gp(0); return; } // task return: no tasks here
  const sp = reg64(4);
  const ip = popAt(adjustSp(sp, 0), size);
  const cs = <i32>popAt(adjustSp(sp, size), size) & 0xffff;
  const fl = <i32>popAt(adjustSp(sp, 2 * size), size);
  let newSp: i64 = 0, newSs = 0;
  const newCplFromSel = cs & 3;
  const outer = mode64 || newCplFromSel > cpl;
  if (outer) {
    newSp = popAt(adjustSp(sp, 3 * size), size);
    newSs = <i32>popAt(adjustSp(sp, 4 * size), size) & 0xffff;
  }
  if ((fl & F_VM) != 0 && cpl == 0 && !mode64) { gp(0); return; } // virtual-8086 mode is not supported
  const newCpl = checkCodeTarget(cs, true);
  // Flags: IOPL only at CPL 0, IF only if CPL <= IOPL; VM/VIF/VIP kept as is.
  let mask = F_ARITH | F_TF | F_DF | 0x800 | F_NT | F_RF | F_AC | F_ID;
  if (cpl == 0) mask |= F_IOPL | F_VIF | F_VIP;
  if (cpl <= ((flagsNow & F_IOPL) >> 12)) mask |= F_IF;
  if (size == 2) mask &= 0xffff;
  loadCs(cs, newCpl);
  store<i32>(STATE + O_FLAGS, ((flagsNow & ~mask) | (fl & mask)) | 2);
  modeChanged();
  if (outer) loadOuterStack(newSs, newCpl, newSp, size);
  else setStackPointer(adjustSp(sp, 3 * size));
  modeChanged();
  setNextRip(mode64 ? ip : ip & (size == 2 ? 0xffff : 0xffffffff));
}

/** Exception classes for double-fault detection. */
export function isContributory(v: i32): bool { return v == 0 || (v >= 10 && v <= 13); }

export function setCr2(v: i64): void { setSt64(O_CR2, v); }
