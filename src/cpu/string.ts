// String instructions (MOVS CMPS STOS LODS SCAS INS OUTS) with REP prefixes.
// Each iteration commits RSI/RDI/RCX, so a fault or exit in the middle of a
// REP leaves a state the instruction restarts from. Long REPs yield after a
// chunk of iterations (RIP stays on the instruction) so interrupts and the
// instruction budget are honoured.
import { countEvent, countEvents, P_STRING_ELEMENT, P_STRING_BULK } from './profile';
import { dPfx, dAsize, dOsize, dSegOverride, setNextRip } from './operand';
import { P_REP, P_REPNE, R_NONE } from './decode';
import { reg64, setReg64, regN, setRegN, rip, SEG_DS, SEG_ES, F_DF, STATE, O_FLAGS, mode64 } from './state';
import { segLinear } from './operand';
import { readN, writeN, hostFor } from './mem';
import { tlbSet, T_READ, T_WRITE } from './paging';
import { alu } from './alu';
import { getZF } from './flags';
import { portAccess, checkIoPermission } from './sysinsn';
import { counter, setCounter } from './exec';
import { pendingExit } from './fault';

const CHUNK = 4096;

function addrMask(): i64 {
  const as = dAsize();
  return as == 8 ? -1 : as == 4 ? 0xffffffff : 0xffff;
}
function getIdx(r: i32): i64 { return reg64(r) & addrMask(); }
function setIdx(r: i32, v: i64): void {
  const as = dAsize();
  if (as == 8) setReg64(r, v);
  else if (as == 4) setReg64(r, v & 0xffffffff);
  else setReg64(r, (reg64(r) & ~0xffff) | (v & 0xffff));
}

/**
 * REP STOS / REP MOVS forward with 64-bit addresses: as many iterations as
 * fit in the current page(s) at once, straight on guest RAM, when the TLB
 * grants the accesses (so no fault, watchpoint, MMIO or code page is
 * involved; those take the element-by-element path). Commits RSI/RDI/RCX
 * like that many single iterations; returns how many it did (0: none).
 */
function bulkIterations(kind: i32, size: i32, srcSeg: i32, limit: i32): i32 {
  const count = reg64(1);
  if (count == 0) return 0;
  const di = reg64(7);
  const dla = segLinear(SEG_ES, di);
  let n = (0x1000 - (<i32>dla & 0xfff)) / size; // whole elements left in the destination page
  if (<u64>n > <u64>count) n = <i32>count;
  if (n > limit) n = limit;
  if (n == 0) return 0;
  const hd = hostFor(tlbSet, dla, T_WRITE);
  if (hd == 0) return 0;
  if (kind == 0xaa) { // STOS
    const v = reg64(0);
    if (size == 1 || v == 0) memory.fill(hd, <u8>v, <usize>(n * size));
    else if (size == 8) for (let k = 0; k < n; k++) store<i64>(hd + (<usize>k << 3), v);
    else if (size == 4) for (let k = 0; k < n; k++) store<i32>(hd + (<usize>k << 2), <i32>v);
    else for (let k = 0; k < n; k++) store<u16>(hd + (<usize>k << 1), <u16>v);
    setReg64(7, di + <i64>(n * size));
  } else { // MOVS
    const si = reg64(6);
    const sla = segLinear(srcSeg, si);
    const m = (0x1000 - (<i32>sla & 0xfff)) / size;
    if (m < n) n = m;
    if (n == 0) return 0;
    const hs = hostFor(tlbSet, sla, T_READ);
    if (hs == 0) return 0;
    // A forward copy onto an overlapping destination above the source repeats
    // the first bytes; copy at most the distance at a time, so each part is a plain copy.
    if (hd > hs && hd < hs + <usize>(n * size)) {
      const dist = <i32>(hd - hs);
      if (dist < size) return 0;
      n = dist / size;
    }
    memory.copy(hd, hs, <usize>(n * size));
    setReg64(6, si + <i64>(n * size));
    setReg64(7, di + <i64>(n * size));
  }
  setReg64(1, count - <i64>n);
  return n;
}

export function execString(op: i32): void {
  const size = (op & 1) == 0 ? 1 : dOsize();
  const step: i64 = (load<i32>(STATE + O_FLAGS) & F_DF) != 0 ? -size : size;
  const ovr = dSegOverride();
  const srcSeg = ovr != <i32>R_NONE ? ovr : SEG_DS;
  const pfx = dPfx();
  const rep = (pfx & (P_REP | P_REPNE)) != 0;
  const kind = op & 0xfe;
  // CMPS and SCAS stop on ZF under REPE/REPNE; the others only on the count.
  const compares = kind == 0xa6 || kind == 0xae;
  // INS/OUTS check I/O permission before touching memory.
  if (kind == 0x6c || kind == 0x6e) checkIoPermission(<i32>reg64(2) & 0xffff, size > 4 ? 4 : size);
  let n = 0;
  const bulk = rep && (kind == 0xaa || kind == 0xa4) && step > 0 && mode64 && dAsize() == 8;
  while (true) {
    if (bulk) {
      const k = bulkIterations(kind, size, srcSeg, CHUNK - n);
      countEvents(P_STRING_BULK, <i64>k);
      if (k > 0) {
        n += k;
        if (reg64(1) == 0) return;
        if (n >= CHUNK) { setNextRip(rip()); return; }
        continue;
      }
    }
    if (rep && counter() == 0) return;
    countEvent(P_STRING_ELEMENT);
    switch (kind) {
      case 0xa4: { // MOVS
        const v = readN(segLinear(srcSeg, getIdx(6)), size);
        writeN(segLinear(SEG_ES, getIdx(7)), size, v);
        setIdx(6, getIdx(6) + step); setIdx(7, getIdx(7) + step);
        break;
      }
      case 0xa6: { // CMPS
        const a = readN(segLinear(srcSeg, getIdx(6)), size);
        const b = readN(segLinear(SEG_ES, getIdx(7)), size);
        alu(7, size, a, b);
        setIdx(6, getIdx(6) + step); setIdx(7, getIdx(7) + step);
        break;
      }
      case 0xaa: // STOS
        writeN(segLinear(SEG_ES, getIdx(7)), size, regN(0, size, false));
        setIdx(7, getIdx(7) + step);
        break;
      case 0xac: // LODS
        setRegN(0, size, false, readN(segLinear(srcSeg, getIdx(6)), size));
        setIdx(6, getIdx(6) + step);
        break;
      case 0xae: // SCAS
        alu(7, size, regN(0, size, false), readN(segLinear(SEG_ES, getIdx(7)), size));
        setIdx(7, getIdx(7) + step);
        break;
      case 0x6c: { // INS
        const sz = size > 4 ? 4 : size;
        const la = segLinear(SEG_ES, getIdx(7));
        const v = portAccess(<i32>reg64(2) & 0xffff, sz, true, 0, true, rep);
        if (pendingExit != 0) return; // an intercepted port: this iteration waits for the hypervisor
        writeN(la, sz, <i64><u32>v);
        setIdx(7, getIdx(7) + (step > 0 ? sz : -sz));
        break;
      }
      default: { // OUTS
        const sz = size > 4 ? 4 : size;
        const v = <i32>readN(segLinear(srcSeg, getIdx(6)), sz);
        portAccess(<i32>reg64(2) & 0xffff, sz, false, v, true, rep);
        if (pendingExit != 0) return;
        setIdx(6, getIdx(6) + (step > 0 ? sz : -sz));
        break;
      }
    }
    if (!rep) return;
    setCounter(counter() - 1);
    if (compares) {
      const zf = getZF();
      if ((pfx & P_REP) != 0 ? !zf : zf) return;
    }
    if (++n >= CHUNK && counter() != 0) {
      setNextRip(rip()); // yield: the instruction continues on the next step
      return;
    }
  }
}
