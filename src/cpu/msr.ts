// Model-specific registers the CPU keeps itself. MSRs that belong to devices
// (x2APIC, TSC deadline) reach the platform through the MSR bitmap exits.
import {
  st64, setSt64, O_EFER, O_STAR, O_LSTAR, O_CSTAR, O_FMASK, O_KGSBASE, O_SYSENTER_CS, O_SYSENTER_ESP,
  O_SYSENTER_EIP, O_TSC_OFFSET, O_APIC_BASE, O_PAT, O_MISC_ENABLE, O_TSC_AUX, O_MTRR_DEF, O_MTRR_FIXED,
  O_MTRR_VAR, O_MCG, O_TSC_ADJUST, O_AMD_MSRS, O_CR0, CR0_PG, EFER_LMA, EFER_LME, EFER_SCE, EFER_NXE, segBase, setSegBase, SEG_FS, SEG_GS,
} from './state';
import { icount } from './run';
import { tlbFlushAll } from './paging';
import { modeChanged } from './system';
import { guestTsc } from './bus';

/** Set by rdmsr() when the MSR does not exist (the caller raises #GP). */
export let msrMissing = false;

/**
 * Where the TSC counts from: retired instructions (deterministic, for tests
 * and bare CPU use), or the platform's guest clock through the guestTsc
 * import, so that the TSC, the timers and the host's time agree.
 */
let tscFromPlatform = false;
export function setTscFromPlatform(on: bool): void {
  tscFromPlatform = on;
  // The engine compiles an import's call path on first use: do it now, not in the guest's first timing loop.
  if (on) guestTsc();
}

function rawTsc(): i64 {
  if (!tscFromPlatform) return icount;
  const t = guestTsc();
  return t >= 0 && t < 9.0e18 ? <i64>t : 0; // never trap on a bad value from the host
}

export function tscValue(): i64 { return rawTsc() + st64(O_TSC_OFFSET); }

/** AMD configuration MSRs the kernel reads on an AMD model: kept as plain storage. */
function amdSlot(idx: u32): i32 {
  if (idx == 0xc0010010) return 0; // SYSCFG
  if (idx == 0xc0010015) return 1; // HWCR
  if (idx == 0xc001001f) return 2; // NB_CFG
  if (idx == 0xc0011029) return 3; // DE_CFG
  if (idx == 0xc001001a) return 4; // TOP_MEM
  return -1;
}

function fixedMtrrSlot(idx: u32): i32 {
  if (idx == 0x250) return 0;
  if (idx == 0x258) return 1;
  if (idx == 0x259) return 2;
  if (idx >= 0x268 && idx <= 0x26f) return 3 + <i32>(idx - 0x268);
  return -1;
}

export function rdmsr(idx: u32): i64 {
  msrMissing = false;
  switch (idx) {
    case 0x10: return tscValue();
    case 0x3b: return st64(O_TSC_ADJUST);
    case 0x1b: return st64(O_APIC_BASE);
    case 0x8b: return 0;                    // microcode revision
    case 0xfe: return 0x508;                // MTRRcap: 8 variable, fixed ranges, write-combining
    case 0x174: return st64(O_SYSENTER_CS);
    case 0x175: return st64(O_SYSENTER_ESP);
    case 0x176: return st64(O_SYSENTER_EIP);
    case 0x179: return 0;                   // MCG_CAP: no banks
    case 0x17a: return st64(O_MCG);
    case 0x1a0: return st64(O_MISC_ENABLE);
    case 0x277: return st64(O_PAT);
    case 0x2ff: return st64(O_MTRR_DEF);
    case 0xc0000080: return st64(O_EFER);
    case 0xc0000081: return st64(O_STAR);
    case 0xc0000082: return st64(O_LSTAR);
    case 0xc0000083: return st64(O_CSTAR);
    case 0xc0000084: return st64(O_FMASK);
    case 0xc0000100: return segBase(SEG_FS);
    case 0xc0000101: return segBase(SEG_GS);
    case 0xc0000102: return st64(O_KGSBASE);
    case 0xc0000103: return st64(O_TSC_AUX);
  }
  if (idx >= 0x200 && idx <= 0x20f) return st64(O_MTRR_VAR + (<usize>(idx - 0x200) << 3));
  const f = fixedMtrrSlot(idx);
  if (f >= 0) return st64(O_MTRR_FIXED + (<usize>f << 3));
  const a = amdSlot(idx);
  if (a >= 0) return st64(O_AMD_MSRS + (<usize>a << 3));
  msrMissing = true;
  return 0;
}

function canonical(v: i64): bool { return ((v << 16) >> 16) == v; }

/** Write an MSR; false means #GP (missing MSR or invalid value). */
export function wrmsr(idx: u32, v: i64): bool {
  switch (idx) {
    case 0x10: { // a TSC write moves TSC_ADJUST by the same amount (SDM 17.17.3)
      const raw = rawTsc();
      setSt64(O_TSC_ADJUST, st64(O_TSC_ADJUST) + (v - raw - st64(O_TSC_OFFSET)));
      setSt64(O_TSC_OFFSET, v - raw);
      return true;
    }
    case 0x3b: // IA32_TSC_ADJUST: writing it moves the TSC by the change
      setSt64(O_TSC_OFFSET, st64(O_TSC_OFFSET) + (v - st64(O_TSC_ADJUST)));
      setSt64(O_TSC_ADJUST, v);
      return true;
    case 0x1b: setSt64(O_APIC_BASE, v & 0xffffffffff900); return true;
    case 0x8b: case 0x17a: return true;
    case 0x174: setSt64(O_SYSENTER_CS, v & 0xffff); return true;
    case 0x175: if (!canonical(v)) return false; setSt64(O_SYSENTER_ESP, v); return true;
    case 0x176: if (!canonical(v)) return false; setSt64(O_SYSENTER_EIP, v); return true;
    case 0x1a0: setSt64(O_MISC_ENABLE, v); return true;
    case 0x277: setSt64(O_PAT, v); return true;
    case 0x2ff: setSt64(O_MTRR_DEF, v); return true;
    case 0xc0000080: {
      const allowed = EFER_SCE | EFER_LME | EFER_NXE;
      if ((v & ~(allowed | EFER_LMA)) != 0) return false;
      const cur = st64(O_EFER);
      // LME cannot change while paging is on; LMA is the processor's to set.
      if ((st64(O_CR0) & CR0_PG) != 0 && ((cur ^ v) & EFER_LME) != 0) return false;
      setSt64(O_EFER, (v & allowed) | (cur & EFER_LMA));
      if (((cur ^ v) & EFER_NXE) != 0) tlbFlushAll();
      modeChanged();
      return true;
    }
    case 0xc0000081: setSt64(O_STAR, v); return true;
    case 0xc0000082: if (!canonical(v)) return false; setSt64(O_LSTAR, v); return true;
    case 0xc0000083: if (!canonical(v)) return false; setSt64(O_CSTAR, v); return true;
    case 0xc0000084: setSt64(O_FMASK, v & 0xffffffff); return true;
    case 0xc0000100: if (!canonical(v)) return false; setSegBase(SEG_FS, v); return true;
    case 0xc0000101: if (!canonical(v)) return false; setSegBase(SEG_GS, v); return true;
    case 0xc0000102: if (!canonical(v)) return false; setSt64(O_KGSBASE, v); return true;
    case 0xc0000103: setSt64(O_TSC_AUX, v & 0xffffffff); return true;
  }
  if (idx >= 0x200 && idx <= 0x20f) { setSt64(O_MTRR_VAR + (<usize>(idx - 0x200) << 3), v); return true; }
  const f = fixedMtrrSlot(idx);
  if (f >= 0) { setSt64(O_MTRR_FIXED + (<usize>f << 3), v); return true; }
  const a = amdSlot(idx);
  if (a >= 0) { setSt64(O_AMD_MSRS + (<usize>a << 3), v); return true; }
  return false;
}
