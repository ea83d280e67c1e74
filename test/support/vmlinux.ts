// A minimal vmlinux for loader tests.

/**
 * A minimal ELF64 x86-64 image with one PT_LOAD (0x40 bytes of INT3 at 16 MiB)
 * and a PT_NOTE holding a PVH entry note (`entry`, default 0x1000850). `code`
 * replaces the INT3s (it runs at 0x1000000 in 32-bit protected mode, paging off, with `entry: 0x1000000`).
 */
export function vmlinux(opts: { machine?: number; pvh?: boolean; entry?: number; code?: Uint8Array } = {}): Uint8Array {
  const f = new Uint8Array(0x300);
  const v = new DataView(f.buffer);
  v.setUint32(0, 0x7f454c46, false);
  f[4] = 2; f[5] = 1; f[6] = 1;
  v.setUint16(18, opts.machine ?? 62, true);
  v.setBigUint64(24, 0xffffffff81000000n, true);
  v.setBigUint64(32, 64n, true);  // phoff
  v.setUint16(54, 56, true);
  v.setUint16(56, 2, true);
  // PT_LOAD: file 0x200..0x240 -> paddr 0x1000000, memsz 0x100
  v.setUint32(64, 1, true);
  v.setBigUint64(64 + 8, 0x200n, true);
  v.setBigUint64(64 + 24, 0x1000000n, true);
  v.setBigUint64(64 + 32, 0x40n, true);
  v.setBigUint64(64 + 40, 0x100n, true);
  // PT_NOTE at 0x280: "Xen" note type 18 with the PVH entry
  v.setUint32(120, 4, true);
  v.setBigUint64(120 + 8, 0x280n, true);
  v.setBigUint64(120 + 32, 20n, true);
  v.setUint32(0x280, 4, true); v.setUint32(0x284, 4, true); v.setUint32(0x288, opts.pvh === false ? 17 : 18, true);
  f.set([0x58, 0x65, 0x6e, 0], 0x28c);
  v.setUint32(0x290, opts.entry ?? 0x1000850, true);
  f.fill(0xcc, 0x200, 0x240);
  if (opts.code) {
    if (opts.code.length > 0x40) throw new RangeError('vmlinux: at most 0x40 bytes of code');
    f.set(opts.code, 0x200);
  }
  return f;
}
