// The guest page-table walker (src/xmhf/pagewalk.ts), on page tables built by
// hand in a plain byte array: every paging mode and page size, the address
// bits each level indexes, rights aggregated over the levels, and the faults a
// hypapp sees for unmapped, out-of-RAM and non-canonical addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { translate, pagingMode, type PhysicalReader, type PagingRegisters } from '../src/xmhf/pagewalk.js';
import { GuestPageFault, type Translation } from '../src/hypapp/api.js';

// ---- helpers ----

const RAM = 1 << 20; // 1 MiB of guest RAM holds every table below

/** Guest RAM in a byte array, read and written little-endian; reads past its end are undefined. */
class GuestRam implements PhysicalReader {
  readonly bytes = new Uint8Array(RAM);
  private readonly view = new DataView(this.bytes.buffer);
  read32(gpa: bigint): number | undefined {
    return gpa >= 0n && gpa + 4n <= BigInt(RAM) ? this.view.getUint32(Number(gpa), true) : undefined;
  }
  read64(gpa: bigint): bigint | undefined {
    return gpa >= 0n && gpa + 8n <= BigInt(RAM) ? this.view.getBigUint64(Number(gpa), true) : undefined;
  }
  /** Store 64-bit entry `index` of the table at `table`. */
  set64(table: number, index: number, value: bigint): void { this.view.setBigUint64(table + index * 8, value, true); }
  /** Store 32-bit entry `index` of the table at `table`. */
  set32(table: number, index: number, value: number): void { this.view.setUint32(table + index * 4, value >>> 0, true); }
}

// Entry bits.
const P = 1n, RW = 2n, US = 4n, PS = 0x80n, NX = 1n << 63n;
const FULL = P | RW | US;

// Register values.
const CR0_PE_PG = 0x8000_0011n; // PG, ET, PE
const CR4_PSE = 0x10n, CR4_PAE = 0x20n;
const EFER_LME_LMA = 0x500n, EFER_NXE = 0x800n;

function longMode(cr3: number, nxe = false): PagingRegisters {
  return { cr0: CR0_PE_PG, cr3: BigInt(cr3), cr4: CR4_PAE, efer: EFER_LME_LMA | (nxe ? EFER_NXE : 0n) };
}
function paeMode(cr3: number, nxe = false): PagingRegisters {
  return { cr0: CR0_PE_PG, cr3: BigInt(cr3), cr4: CR4_PAE, efer: nxe ? EFER_NXE : 0n };
}
function mode32(cr3: number, pse: boolean): PagingRegisters {
  return { cr0: CR0_PE_PG, cr3: BigInt(cr3), cr4: pse ? CR4_PSE : 0n, efer: 0n };
}

/** The 9-bit table index `gva` selects at the level translating bits shift+8..shift. */
const idx = (gva: bigint, shift: bigint): number => Number((gva >> shift) & 0x1ffn);

// 4-level tables live at fixed addresses.
const PML4 = 0x1000, PDPT = 0x2000, PD = 0x3000, PT = 0x4000;

interface Chain4 {
  /** Where the leaf maps and its size. */
  leaf: bigint;
  size: '4K' | '2M' | '1G';
  /** Rights and flags of each level from PML4E down (the leaf's PS bit is added here). */
  flags?: bigint[];
}

/** Build the 4-level walk of `gva` down to a leaf mapping `leaf`; returns CR3. */
function build4(mem: GuestRam, gva: bigint, { leaf, size, flags = [FULL, FULL, FULL, FULL] }: Chain4): number {
  mem.set64(PML4, idx(gva, 39n), BigInt(PDPT) | flags[0]);
  if (size === '1G') { mem.set64(PDPT, idx(gva, 30n), leaf | PS | flags[1]); return PML4; }
  mem.set64(PDPT, idx(gva, 30n), BigInt(PD) | flags[1]);
  if (size === '2M') { mem.set64(PD, idx(gva, 21n), leaf | PS | flags[2]); return PML4; }
  mem.set64(PD, idx(gva, 21n), BigInt(PT) | flags[2]);
  mem.set64(PT, idx(gva, 12n), leaf | flags[3]);
  return PML4;
}

const rwUserExec = { writable: true, user: true, executable: true };

/** Assert that `fn` throws a GuestPageFault for `gva` whose message matches `message`. */
function assertFault(fn: () => Translation, gva: bigint, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof GuestPageFault, `expected a GuestPageFault, got ${String(e)}`);
    assert.equal(e.gva, gva);
    assert.match(e.message, message);
    return true;
  });
}

// ---- paging mode ----

test('pagingMode: CR0.PG off is none, EFER.LMA is 4-level, else CR4.PAE picks PAE or 32-bit', () => {
  const base = { cr3: 0n, cr4: 0n, efer: 0n };
  assert.equal(pagingMode({ ...base, cr0: 0x11n, cr4: CR4_PAE, efer: EFER_LME_LMA }), 'none');
  assert.equal(pagingMode({ ...base, cr0: CR0_PE_PG, cr4: CR4_PAE, efer: EFER_LME_LMA }), '4-level');
  assert.equal(pagingMode({ ...base, cr0: CR0_PE_PG, cr4: CR4_PAE, efer: 0x100n /* LME only */ }), 'pae');
  assert.equal(pagingMode({ ...base, cr0: CR0_PE_PG, cr4: CR4_PSE }), '32-bit');
});

test('paging off: addresses are identity-mapped, truncated to 32 bits, with every right', () => {
  const mem = new GuestRam();
  const r = { cr0: 0x11n, cr3: 0x1000n, cr4: 0n, efer: 0n };
  assert.deepEqual(translate(mem, r, 0x0012_3456n), { gpa: 0x0012_3456n, pageSize: 4096, ...rwUserExec });
  assert.equal(translate(mem, r, 0x1_2345_6789n).gpa, 0x2345_6789n);
});

// ---- 4-level paging ----

test('4-level, 4 KiB page: each level is indexed by its own 9 address bits and the offset is kept', () => {
  const mem = new GuestRam();
  // Distinct, non-zero indices at every level: 3, 5, 7, 9.
  const gva = (3n << 39n) | (5n << 30n) | (7n << 21n) | (9n << 12n) | 0xabcn;
  const cr3 = build4(mem, gva, { leaf: 0x1_2345_6000n, size: '4K' });
  assert.deepEqual(translate(mem, longMode(cr3), gva), { gpa: 0x1_2345_6abcn, pageSize: 4096, ...rwUserExec });
  // The neighbouring page (PT index 10) is not mapped.
  assertFault(() => translate(mem, longMode(cr3), gva + 0x1000n), gva + 0x1000n, /PTE/);
});

test('4-level, 2 MiB page: the low 21 bits are the offset; PAT (bit 12) and ignored high bits stay out of the address', () => {
  const mem = new GuestRam();
  const gva = 0x0000_0040_8065_4321n; // PML4 index 0, PDPT index 258, PD index 3
  const leaf = 0x8000_0000n | (1n << 12n) /* PAT */ | (0x7fn << 52n) /* ignored/protection-key bits */;
  const cr3 = build4(mem, gva, { leaf, size: '2M' });
  assert.deepEqual(translate(mem, longMode(cr3), gva), { gpa: 0x8005_4321n, pageSize: 2 << 20, ...rwUserExec });
});

test('4-level, 1 GiB page: the low 30 bits are the offset', () => {
  const mem = new GuestRam();
  const gva = 0x0000_0000_c123_4567n; // PDPT index 3
  const cr3 = build4(mem, gva, { leaf: 0x1_4000_0000n, size: '1G' });
  assert.deepEqual(translate(mem, longMode(cr3), gva), { gpa: 0x1_4123_4567n, pageSize: 1 << 30, ...rwUserExec });
});

test('4-level: a kernel-half address (0xffffffff81000123) walks PML4 entry 511 and PDPT entry 510', () => {
  const mem = new GuestRam();
  const gva = 0xffff_ffff_8100_0123n;
  assert.deepEqual([idx(gva, 39n), idx(gva, 30n), idx(gva, 21n), idx(gva, 12n)], [511, 510, 8, 0]);
  const cr3 = build4(mem, gva, { leaf: 0x0100_0000n, size: '2M', flags: [P | RW, P | RW, P | RW] });
  assert.deepEqual(translate(mem, longMode(cr3), gva), {
    gpa: 0x0100_0123n, pageSize: 2 << 20, writable: true, user: false, executable: true,
  });
});

test('4-level: non-canonical addresses fault without reading the tables', () => {
  const mem = new GuestRam();
  // Map the first and last 1 GiB under PML4 entries 0, 255, 256 and 511, so only canonicality can make these fail.
  for (const i of [0, 255, 256, 511]) mem.set64(PML4, i, BigInt(PDPT) | FULL);
  mem.set64(PDPT, 0, PS | FULL);
  mem.set64(PDPT, 511, PS | FULL);
  const r = longMode(PML4);
  assert.equal(translate(mem, r, 0x0000_7fff_ffff_f000n).gpa, 0x3fff_f000n); // highest canonical low-half page
  assert.equal(translate(mem, r, 0xffff_8000_0000_0010n).gpa, 0x10n); // lowest canonical high-half address
  for (const gva of [0x0000_8000_0000_0000n, 0xffff_7fff_ffff_f000n, 0x0001_0000_0000_0000n, 0x8000_0000_0000_0000n]) {
    assertFault(() => translate(mem, r, gva), gva, /canonical/);
  }
});

test('4-level: a not-present entry at each level faults with the gva and names the level', () => {
  const gva = 0x0000_0080_4060_8123n;
  const levels = ['PML4E', 'PDPTE', 'PDE', 'PTE'];
  for (let level = 0; level < 4; level++) {
    const mem = new GuestRam();
    const flags = [FULL, FULL, FULL, FULL];
    flags[level] = RW | US; // everything but P
    const cr3 = build4(mem, gva, { leaf: 0x5000n, size: '4K', flags });
    assertFault(() => translate(mem, longMode(cr3), gva), gva, new RegExp(`not mapped.*${levels[level]}`));
  }
});

test('4-level: a table (or CR3) outside guest RAM faults instead of reading garbage', () => {
  const gva = 0x0000_0000_0040_1000n;
  const mem = new GuestRam();
  build4(mem, gva, { leaf: 0x5000n, size: '4K' });
  mem.set64(PDPT, idx(gva, 30n), 0x4000_0000n | FULL); // PD beyond the 1 MiB of RAM
  assertFault(() => translate(mem, longMode(PML4), gva), gva, /outside guest RAM/);
  assertFault(() => translate(mem, longMode(0x1_0000_0000), gva), gva, /outside guest RAM/);
  // The leaf may point anywhere: the walk only reads the tables.
  const ok = new GuestRam();
  const cr3 = build4(ok, gva, { leaf: 0x40_0000_0000n, size: '4K' });
  assert.equal(translate(ok, longMode(cr3), gva).gpa, 0x40_0000_0000n);
});

test('4-level: a PML4E with the PS bit set faults (reserved)', () => {
  const mem = new GuestRam();
  const gva = 0x1234n;
  mem.set64(PML4, 0, PS | FULL);
  assertFault(() => translate(mem, longMode(PML4), gva), gva, /PS/);
});

test('4-level rights: a read-only PDE makes the 4 KiB page read-only although the PTE is writable', () => {
  const mem = new GuestRam();
  const gva = 0x0000_0000_0060_3000n;
  const cr3 = build4(mem, gva, { leaf: 0x9000n, size: '4K', flags: [FULL, FULL, P | US, FULL] });
  assert.deepEqual(translate(mem, longMode(cr3), gva), { gpa: 0x9000n, pageSize: 4096, writable: false, user: true, executable: true });
});

test('4-level rights: clearing U/S at any single level makes the page supervisor-only', () => {
  const gva = 0x0000_0000_0060_3000n;
  for (let level = 0; level < 4; level++) {
    const mem = new GuestRam();
    const flags = [FULL, FULL, FULL, FULL];
    flags[level] = P | RW;
    const cr3 = build4(mem, gva, { leaf: 0x9000n, size: '4K', flags });
    const t = translate(mem, longMode(cr3), gva);
    assert.equal(t.user, false, `U/S clear in level ${level}`);
    assert.equal(t.writable, true, `level ${level}`);
  }
});

test('4-level rights: NX at any level makes the page non-executable only when EFER.NXE is set', () => {
  const gva = 0x0000_0000_0060_3000n;
  for (let level = 0; level < 4; level++) {
    const mem = new GuestRam();
    const flags = [FULL, FULL, FULL, FULL];
    flags[level] = FULL | NX;
    const cr3 = build4(mem, gva, { leaf: 0x9000n, size: '4K', flags });
    assert.equal(translate(mem, longMode(cr3, true), gva).executable, false, `NX in level ${level} with NXE`);
    const withoutNxe = translate(mem, longMode(cr3, false), gva);
    assert.equal(withoutNxe.executable, true, `NX in level ${level} without NXE`);
    assert.equal(withoutNxe.gpa, 0x9000n, 'bit 63 is not part of the address');
  }
  // NX on a 1 GiB leaf.
  const mem = new GuestRam();
  const cr3 = build4(mem, gva, { leaf: 0x4000_0000n, size: '1G', flags: [FULL, FULL | NX] });
  assert.deepEqual(translate(mem, longMode(cr3, true), gva), {
    gpa: 0x4060_3000n, pageSize: 1 << 30, writable: true, user: true, executable: false,
  });
});

// ---- PAE paging ----

// PAE: CR3 points at four 8-byte PDPTEs, 32-byte aligned (not page-aligned here on purpose).
const PAE_PDPT = 0x5020;
const PAE_PD = [0x6000, 0x7000, 0x8000, 0x9000];
const PAE_PT = 0xa000;

test('PAE: the four PDPTEs are selected by address bits 31:30, each reaching its own page directory', () => {
  const mem = new GuestRam();
  for (let q = 0; q < 4; q++) {
    mem.set64(PAE_PDPT, q, BigInt(PAE_PD[q]) | P);
    // PD entry 1 of quarter q: a 2 MiB page at (q + 1) * 16 MiB.
    mem.set64(PAE_PD[q], 1, BigInt((q + 1) << 24) | PS | FULL);
  }
  const r = paeMode(PAE_PDPT);
  for (let q = 0; q < 4; q++) {
    const gva = (BigInt(q) << 30n) | 0x0023_4567n; // PD index 1, offset 0x34567
    assert.deepEqual(translate(mem, r, gva), { gpa: BigInt((q + 1) << 24) | 0x3_4567n, pageSize: 2 << 20, ...rwUserExec }, `quarter ${q}`);
  }
});

test('PAE, 4 KiB page: PD and PT are indexed by bits 29:21 and 20:12, rights are ANDed', () => {
  const mem = new GuestRam();
  const gva = 0xc040_5678n; // PDPTE 3, PD index 2, PT index 5
  mem.set64(PAE_PDPT, 3, BigInt(PAE_PD[3]) | P);
  mem.set64(PAE_PD[3], 2, BigInt(PAE_PT) | FULL);
  mem.set64(PAE_PT, 5, 0x2_3456_7000n | P | US); // read-only PTE, above 4 GiB
  assert.deepEqual(translate(mem, paeMode(PAE_PDPT), gva), {
    gpa: 0x2_3456_7678n, pageSize: 4096, writable: false, user: true, executable: true,
  });
});

test('PAE: PDPTEs carry no rights; NX in a PDE counts only with EFER.NXE', () => {
  const mem = new GuestRam();
  const gva = 0x4020_0010n; // PDPTE 1, PD index 1
  mem.set64(PAE_PDPT, 1, BigInt(PAE_PD[1]) | P); // no RW, no US: ignored
  mem.set64(PAE_PD[1], 1, 0x0060_0000n | PS | FULL | NX);
  assert.deepEqual(translate(mem, paeMode(PAE_PDPT, true), gva), {
    gpa: 0x0060_0010n, pageSize: 2 << 20, writable: true, user: true, executable: false,
  });
  assert.equal(translate(mem, paeMode(PAE_PDPT, false), gva).executable, true);
});

test('PAE: a not-present PDPTE, PDE or PTE faults with the gva and names it', () => {
  const gva = 0x8040_3123n; // PDPTE 2, PD index 2, PT index 3
  const mem = new GuestRam();
  const r = paeMode(PAE_PDPT);
  assertFault(() => translate(mem, r, gva), gva, /not mapped.*PDPTE/);
  mem.set64(PAE_PDPT, 2, BigInt(PAE_PD[2]) | P);
  assertFault(() => translate(mem, r, gva), gva, /not mapped.*PDE/);
  mem.set64(PAE_PD[2], 2, BigInt(PAE_PT) | FULL);
  assertFault(() => translate(mem, r, gva), gva, /not mapped.*PTE/);
  mem.set64(PAE_PT, 3, 0x7_7000n | FULL);
  assert.equal(translate(mem, r, gva).gpa, 0x7_7123n);
});

// ---- 32-bit paging ----

const PD32 = 0x10000, PT32 = 0x11000;

test('32-bit, 4 KiB page: 10-bit PD and PT indices, rights ANDed over PDE and PTE', () => {
  const mem = new GuestRam();
  const gva = 0x8040_3123n; // PD index 0x201, PT index 3
  mem.set32(PD32, 0x201, PT32 | Number(FULL));
  mem.set32(PT32, 3, 0xfedc_b000 | Number(FULL));
  const r = mode32(PD32, true);
  assert.deepEqual(translate(mem, r, gva), { gpa: 0xfedc_b123n, pageSize: 4096, ...rwUserExec });
  // Read-only PDE, supervisor PTE.
  mem.set32(PD32, 0x201, PT32 | Number(P | US));
  mem.set32(PT32, 3, 0xfedc_b000 | Number(P | RW));
  assert.deepEqual(translate(mem, r, gva), { gpa: 0xfedc_b123n, pageSize: 4096, writable: false, user: false, executable: true });
});

test('32-bit, 4 MiB page with CR4.PSE: the low 22 bits are the offset', () => {
  const mem = new GuestRam();
  const gva = 0x0123_4567n; // PD index 4
  mem.set32(PD32, 4, 0x0800_0000 | Number(PS | P | RW));
  assert.deepEqual(translate(mem, mode32(PD32, true), gva), {
    gpa: 0x0823_4567n, pageSize: 4 << 20, writable: true, user: false, executable: true,
  });
});

test('32-bit, 4 MiB page, PSE-36: PDE bits 13..20 become physical address bits 32..39', () => {
  const mem = new GuestRam();
  const gva = 0x0123_4567n;
  mem.set32(PD32, 4, 0x0800_0000 | (0xa5 << 13) | Number(PS | FULL));
  const t = translate(mem, mode32(PD32, true), gva);
  assert.equal(t.gpa, 0xa5_0823_4567n);
  assert.equal(t.pageSize, 4 << 20);
});

test('32-bit with CR4.PSE clear: the PS bit is ignored and the PDE points to a page table', () => {
  const mem = new GuestRam();
  const gva = 0x0123_4567n; // PD index 4, PT index 0x234
  // A page table at 0x1000, so that read as a 4 MiB PDE (with PSE) its bits 13..20 are zero.
  mem.set32(PD32, 4, 0x1000 | Number(PS | FULL));
  mem.set32(0x1000, 0x234, 0x0055_5000 | Number(FULL));
  assert.deepEqual(translate(mem, mode32(PD32, false), gva), { gpa: 0x0055_5567n, pageSize: 4096, ...rwUserExec });
  // The same tables with PSE on map a 4 MiB page at the PDE's base instead.
  assert.deepEqual(translate(mem, mode32(PD32, true), gva), { gpa: 0x0023_4567n, pageSize: 4 << 20, ...rwUserExec });
});

test('32-bit: not-present PDE and PTE fault with the gva; addresses are 32-bit', () => {
  const mem = new GuestRam();
  const gva = 0x0040_2abcn; // PD index 1, PT index 2
  const r = mode32(PD32, true);
  assertFault(() => translate(mem, r, gva), gva, /not mapped.*PDE/);
  mem.set32(PD32, 1, PT32 | Number(FULL));
  assertFault(() => translate(mem, r, gva), gva, /not mapped.*PTE/);
  mem.set32(PT32, 2, 0x3000 | Number(FULL));
  assert.equal(translate(mem, r, gva).gpa, 0x3abcn);
  assert.equal(translate(mem, r, 0x1_0040_2abcn).gpa, 0x3abcn, 'bits above 31 are not part of a 32-bit address');
});

test('32-bit: a page directory outside guest RAM faults', () => {
  const mem = new GuestRam();
  assertFault(() => translate(mem, mode32(0x4000_0000, true), 0x1000n), 0x1000n, /outside guest RAM/);
});
