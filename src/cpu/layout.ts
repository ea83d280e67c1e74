// Fixed addresses in the WebAssembly linear memory. Everything the CPU keeps
// lives at a constant address so the hot paths compile to constant offsets.
// Guest RAM starts at RAM_BASE and extends to the end of memory.

/** The active vCPU's architectural state (see state.ts for the offsets inside). */
export const STATE: usize = 0x1000;
export const STATE_SIZE: usize = 0x1000;
/** Control block (VMCS-like): control bits, exception bitmap, CPUID table. */
export const CONTROL: usize = 0x2000;
/** MSR bitmaps as in VMX: read-low, read-high, write-low, write-high, 1 KiB each. */
export const MSR_BITMAP: usize = 0x3000;
/** I/O bitmap: one bit per port, 8 KiB. */
export const IO_BITMAP: usize = 0x4000;
/** Exit qualification slots (i64 each). */
export const EXIT_INFO: usize = 0x6000;
/** The decoded-instruction record of the instruction being executed. */
export const INSN: usize = 0x6800;
/** CPUID table: up to 64 entries of 24 bytes (leaf, subleaf, eax, ebx, ecx, edx). */
export const CPUID_TABLE: usize = 0x7000;
export const CPUID_MAX_ENTRIES: i32 = 64;

/** Profiling builds' event counters (profile.ts), i64 each. */
export const PROFILE_COUNTERS: usize = 0x10000;

/**
 * TLB: sets of TLB_ENTRIES entries, TLB_SETS of them back to back: supervisor,
 * user, supervisor with SMAP overridden by EFLAGS.AC, and an always-empty one (paging.ts).
 */
export const TLB: usize = 0x100000;
export const TLB_SETS: i32 = 4;
export const TLB_BITS: i32 = 12;
export const TLB_ENTRIES: i32 = 1 << TLB_BITS;
/** Bytes per TLB set: read tag, write tag, exec tag (i64 each), host page (i32), pad (i32), gpa (i64). */
export const TLB_SET_SIZE: usize = <usize>TLB_ENTRIES * 40;

/**
 * The TLB entries filled since the last full flush, one u16 each (set number << TLB_BITS | slot), up to
 * twice each slot of the three sets that are filled: 6 x TLB_ENTRIES; see paging.ts.
 */
export const TLB_FILLED: usize = 0x1a0000;
/** One bit per 2 MiB linear region (modulo 2^16) from whose large pages TLB entries were filled. */
export const TLB_LARGE_REGIONS: usize = 0x1ac000;

/** One bit per guest-physical page below 4 GiB: the page walker has read page-table entries from it (paging.ts). */
export const WALKED_PAGES: usize = 0x1b0000;

/** Nested page permissions: one byte of Access bits per 4 KiB guest-physical page below 4 GiB. */
export const NPT: usize = 0x200000;
/** One byte per guest-physical page below 4 GiB: non-zero if decoded code was taken from it. */
export const CODE_PAGES: usize = 0x300000;

/** Guest-physical address 0. */
export const RAM_BASE: usize = 0x4000000;

/** Generation of each guest-physical page below 4 GiB (u32): bumped when decoded code from it is invalidated. */
export const CODE_GEN: usize = 0x400000;
/** Decoded blocks by host address of their first byte: BLOCK_HASH_ENTRIES of 16 bytes (codecache.ts). */
export const BLOCK_HASH: usize = 0x800000;
export const BLOCK_HASH_BITS: i32 = 18;
export const BLOCK_HASH_ENTRIES: i32 = 1 << BLOCK_HASH_BITS;
/** Decoded blocks themselves, allocated upwards and all dropped when the space runs out. */
export const BLOCK_ARENA: usize = 0x2200000;
export const BLOCK_ARENA_END: usize = 0x3f00000; // AssemblyScript's own data starts here (--memoryBase)

/** Saved vCPUs (see vcpu.ts): VCPU_SLOT bytes each, up to MAX_VCPUS. */
export const VCPU_SAVE: usize = 0x2000000;
export const VCPU_SLOT: usize = 0x8000;
export const MAX_VCPUS: i32 = 64;
