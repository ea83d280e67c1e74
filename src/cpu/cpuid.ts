// The CPUID table: configurable by the hypervisor, with a default model that
// advertises only what this CPU implements.
import { CPUID_TABLE, CPUID_MAX_ENTRIES } from './layout';

let entries: i32 = 0;
const ANY_SUBLEAF: i32 = -1;

export function cpuidClear(): void { entries = 0; }
export function cpuidCount(): i32 { return entries; }
export function setCpuidCount(n: i32): void { entries = n; }

/** Add or replace an entry; subleaf -1 matches any subleaf. False if the table is full. */
export function cpuidSet(leaf: i32, subleaf: i32, a: i32, b: i32, c: i32, d: i32): bool {
  let i = find(leaf, subleaf, true);
  if (i < 0) {
    if (entries >= CPUID_MAX_ENTRIES) return false;
    i = entries++;
  }
  const p = CPUID_TABLE + <usize>i * 24;
  store<i32>(p, leaf); store<i32>(p + 4, subleaf);
  store<i32>(p + 8, a); store<i32>(p + 12, b); store<i32>(p + 16, c); store<i32>(p + 20, d);
  return true;
}

/** The entry for (leaf, subleaf): one for that subleaf, else (unless `exact`) one for any subleaf. */
function find(leaf: i32, subleaf: i32, exact: bool): i32 {
  let any = -1;
  for (let i = 0; i < entries; i++) {
    const p = CPUID_TABLE + <usize>i * 24;
    if (load<i32>(p) != leaf) continue;
    const s = load<i32>(p + 4);
    if (s == subleaf) return i;
    if (s == ANY_SUBLEAF && any < 0) any = i;
  }
  return exact ? -1 : any;
}

export let outA: i32 = 0, outB: i32 = 0, outC: i32 = 0, outD: i32 = 0;

/** Look up (leaf, subleaf); leaves beyond the maximum answer like the highest basic leaf, as Intel parts do. */
export function cpuidLookup(leaf: i32, subleaf: i32): void {
  let i = find(leaf, subleaf, false);
  if (i < 0) {
    const maxBasic = find(0, ANY_SUBLEAF, false);
    const maxExt = find(<i32>0x80000000, ANY_SUBLEAF, false);
    const inExt = (leaf & 0x80000000) != 0;
    const maxLeaf = inExt ? (maxExt >= 0 ? load<i32>(CPUID_TABLE + <usize>maxExt * 24 + 8) : 0) :
      (maxBasic >= 0 ? load<i32>(CPUID_TABLE + <usize>maxBasic * 24 + 8) : 0);
    if (<u32>leaf > <u32>maxLeaf && maxBasic >= 0) i = find(load<i32>(CPUID_TABLE + <usize>maxBasic * 24 + 8), ANY_SUBLEAF, false);
  }
  if (i < 0) { outA = 0; outB = 0; outC = 0; outD = 0; return; }
  const p = CPUID_TABLE + <usize>i * 24;
  outA = load<i32>(p + 8); outB = load<i32>(p + 12); outC = load<i32>(p + 16); outD = load<i32>(p + 20);
}

function str4(s0: i32, s1: i32, s2: i32, s3: i32): i32 { return s0 | (s1 << 8) | (s2 << 16) | (s3 << 24); }

/** The default model (like QEMU's qemu64, which Debian's kernel is known to boot on). */
export function cpuidDefaults(apicId: i32): void {
  cpuidClear();
  // Leaf 0: max leaf 7, "AuthenticAMD".
  cpuidSet(0, ANY_SUBLEAF, 7, str4(0x41, 0x75, 0x74, 0x68), str4(0x63, 0x41, 0x4d, 0x44), str4(0x65, 0x6e, 0x74, 0x69));
  // Leaf 1: AMD family 15 (K8), model 63 (ext model 3, model 0xf), stepping 2. Linux applies K8 quirks
  // this CPU serves (HWCR and DE_CFG as storage, SWAPGS and FXSAVE-leak fences); from model 0x41
  // stepping 2 on, AMD erratum 400 (C1E) would make its idle loop read MSR 0xc0010055, which it lacks.
  const signature = 0x00030ff2;
  const edx1 = (1 << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 9) | (1 << 11) |
    (1 << 12) | (1 << 13) | (1 << 15) | (1 << 16) | (1 << 17) | (1 << 19) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26);
  // CX16, POPCNT, TSC-deadline (the platform's local APIC has it), hypervisor.
  const ecx1 = (1 << 13) | (1 << 23) | (1 << 24) | (1 << 31);
  cpuidSet(1, ANY_SUBLEAF, signature, (apicId << 24) | (1 << 16) | (8 << 8), ecx1, edx1);
  cpuidSet(6, ANY_SUBLEAF, 1 << 2, 0, 0, 0); // ARAT: the APIC timer keeps running in idle
  // Leaf 7 subleaf 0 (the only one): TSC_ADJUST, SMEP, SMAP in EBX; UMIP in ECX.
  cpuidSet(7, 0, 0, (1 << 1) | (1 << 7) | (1 << 20), 1 << 2, 0);
  cpuidSet(7, ANY_SUBLEAF, 0, 0, 0, 0);
  cpuidSet(<i32>0x80000000, ANY_SUBLEAF, <i32>0x80000008, str4(0x41, 0x75, 0x74, 0x68), str4(0x63, 0x41, 0x4d, 0x44), str4(0x65, 0x6e, 0x74, 0x69));
  // SYSCALL, NX, RDTSCP, LM; LAHF/SAHF in 64-bit mode.
  cpuidSet(<i32>0x80000001, ANY_SUBLEAF, signature, 0, 1, (1 << 11) | (1 << 20) | (1 << 27) | (1 << 29) | edx1 & 0x0183f3ff);
  // Brand string "xmhf-ts x86-64 CPU (WebAssembly)".
  cpuidSet(<i32>0x80000002, ANY_SUBLEAF, str4(0x78, 0x6d, 0x68, 0x66), str4(0x2d, 0x74, 0x73, 0x20), str4(0x78, 0x38, 0x36, 0x2d), str4(0x36, 0x34, 0x20, 0x43));
  cpuidSet(<i32>0x80000003, ANY_SUBLEAF, str4(0x50, 0x55, 0x20, 0x28), str4(0x57, 0x65, 0x62, 0x41), str4(0x73, 0x73, 0x65, 0x6d), str4(0x62, 0x6c, 0x79, 0x29));
  cpuidSet(<i32>0x80000004, ANY_SUBLEAF, 0, 0, 0, 0);
  cpuidSet(<i32>0x80000007, ANY_SUBLEAF, 0, 0, 0, 1 << 8); // invariant TSC: it counts guest time at a fixed rate
  cpuidSet(<i32>0x80000008, ANY_SUBLEAF, 0x3028, 0, 0, 0); // 40 physical, 48 linear address bits
}
