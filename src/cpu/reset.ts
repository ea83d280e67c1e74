// RESET and INIT: the architectural state a processor starts from.
import { STATE, STATE_SIZE, CONTROL } from './layout';
import {
  setReg64, setRip, setSt64, setSegBase, setSegLimit, setSegSel, setSegAttr, st64,
  O_FLAGS, O_CR0, O_DR, O_APIC_BASE, O_PAT, O_IDTR_LIMIT, O_GDTR_LIMIT, O_MTRR_DEF, O_MTRR_FIXED,
} from './state';
import { discardLazyFlags } from './flags';
import { tlbFlushAll } from './paging';
import { modeChanged } from './system';
import { setActivity } from './run';
import { setInterruptShadow } from './events';
import { fpuReset } from './fpu';
import { sseReset } from './sse';
import { cpuidDefaults } from './cpuid';
import { debugRegistersChanged } from './debug';

/** INIT: like RESET, but MTRRs and the APIC base survive (SDM 9.1.1). */
export function resetForInit(): void {
  const apicBase = st64(O_APIC_BASE), pat = st64(O_PAT), mtrrDef = st64(O_MTRR_DEF);
  const saved = memory.data(27 * 8);
  memory.copy(saved, STATE + O_MTRR_FIXED, 27 * 8);
  resetState();
  setSt64(O_APIC_BASE, apicBase & ~0x100); // an INIT-ed processor is not the BSP
  setSt64(O_PAT, pat);
  setSt64(O_MTRR_DEF, mtrrDef);
  memory.copy(STATE + O_MTRR_FIXED, saved, 27 * 8);
}

/** RESET: architectural state, the control block and the CPUID model. */
export function resetAll(): void {
  memory.fill(CONTROL, 0, 0x5000); // controls, exception bitmap, MSR and I/O bitmaps
  resetState();
  cpuidDefaults(0);
}

function resetState(): void {
  memory.fill(STATE, 0, STATE_SIZE);
  discardLazyFlags();
  store<i32>(STATE + O_FLAGS, 2);
  setSt64(O_CR0, 0x60000010);
  setSt64(O_DR + 32, 0xffff0ff0);
  setSt64(O_DR + 40, 0x400);
  setSt64(O_APIC_BASE, 0xfee00900);
  setSt64(O_PAT, 0x0007040600070406);
  setSt64(O_IDTR_LIMIT, 0xffff);
  setSt64(O_GDTR_LIMIT, 0xffff);
  for (let s = 0; s < 6; s++) { setSegLimit(s, 0xffff); setSegAttr(s, s == 1 ? 0x9b : 0x93); }
  setSegSel(1, 0xf000); setSegBase(1, 0xffff0000);
  setSegAttr(6, 0x82); setSegLimit(6, 0xffff);
  setSegAttr(7, 0x8b); setSegLimit(7, 0xffff);
  setRip(0xfff0);
  setReg64(2, 0x600); // RDX: processor signature
  setActivity(0);
  setInterruptShadow(0);
  fpuReset();
  sseReset();
  debugRegistersChanged();
  tlbFlushAll();
  modeChanged();
}
