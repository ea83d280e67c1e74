// String instructions (MOVS CMPS STOS LODS SCAS INS OUTS) with REP prefixes.
// Each iteration commits RSI/RDI/RCX, so a fault or exit in the middle of a
// REP leaves a state the instruction restarts from. Long REPs yield after a
// chunk of iterations (RIP stays on the instruction) so interrupts and the
// instruction budget are honoured.
import { dPfx, dAsize, dOsize, dSegOverride, setNextRip } from './operand';
import { P_REP, P_REPNE, R_NONE } from './decode';
import { reg64, setReg64, regN, setRegN, rip, SEG_DS, SEG_ES, F_DF, STATE, O_FLAGS } from './state';
import { segLinear } from './operand';
import { readN, writeN } from './mem';
import { alu } from './alu';
import { getZF } from './flags';
import { portAccess, checkIoPermission } from './sysinsn';
import { counter, setCounter } from './exec';

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
  while (true) {
    if (rep && counter() == 0) return;
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
        writeN(la, sz, <i64><u32>v);
        setIdx(7, getIdx(7) + (step > 0 ? sz : -sz));
        break;
      }
      default: { // OUTS
        const sz = size > 4 ? 4 : size;
        const v = <i32>readN(segLinear(srcSeg, getIdx(6)), sz);
        portAccess(<i32>reg64(2) & 0xffff, sz, false, v, true, rep);
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
