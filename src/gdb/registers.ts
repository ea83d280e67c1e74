// The registers the stub serves and their target description: GDB's own
// amd64 feature names and order (64bit-core, 64bit-sse, 64bit-segments), so
// gdb's amd64 support finds every register it needs, plus a system feature
// with the kernel GS base and the control registers (as QEMU's stub has).
// The `g` packet is every register here, in this order; p/P use the index.
import { Msr, type GuestCpu, type SegmentRegister } from '../hypapp/api.js';
import { littleEndianHex, littleEndianValue, ProtocolError, toHex } from './packets.js';

export interface RegisterDef {
  name: string;
  bits: number;
  type: string;
  group?: string;
  feature: Feature;
  read(cpu: GuestCpu): Uint8Array | bigint;
  /** Absent: the register is read-only (writes answer an error). */
  write?(cpu: GuestCpu, value: bigint, bytes: Uint8Array): void;
}

type Feature = 'core' | 'sse' | 'segments' | 'sys';

const FEATURE_NAMES: Record<Feature, string> = {
  core: 'org.gnu.gdb.i386.core',
  sse: 'org.gnu.gdb.i386.sse',
  segments: 'org.gnu.gdb.i386.segments',
  sys: 'org.xmhf.i386.sys',
};

const GPRS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
const SELECTORS: SegmentRegister[] = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'];

function general(name: (typeof GPRS)[number] | 'rip'): RegisterDef {
  const type = name === 'rip' ? 'code_ptr' : name === 'rbp' || name === 'rsp' ? 'data_ptr' : 'int64';
  return { name, bits: 64, type, feature: 'core', read: (c) => c.get(name), write: (c, v) => c.set(name, v) };
}

function msrRegister(name: string, index: number, feature: Feature): RegisterDef {
  return {
    name, bits: 64, type: 'int64', feature, read: (c) => c.msr(index) ?? 0n,
    write: (c, v) => c.setMsr(index, v),
  };
}

export const REGISTERS: readonly RegisterDef[] = [
  ...GPRS.map(general),
  general('rip'),
  { name: 'eflags', bits: 32, type: 'i386_eflags', feature: 'core', read: (c) => c.get('rflags'), write: (c, v) => c.set('rflags', v) },
  ...SELECTORS.map((s): RegisterDef => ({ name: s, bits: 32, type: 'int32', feature: 'core', read: (c) => BigInt(c.segment(s).selector) })),
  ...Array.from({ length: 8 }, (_, i): RegisterDef => ({
    name: `st${i}`, bits: 80, type: 'i387_ext', feature: 'core',
    read: (c) => c.x87().st[i],
    write: (c, _v, bytes) => { const st: Array<Uint8Array | undefined> = []; st[i] = bytes; c.setX87({ st }); },
  })),
  x87Field('fctrl', (s) => s.fcw, (v) => ({ fcw: v })),
  x87Field('fstat', (s) => s.fsw, (v) => ({ fsw: v })),
  x87Field('ftag', (s) => s.ftw, (v) => ({ ftw: v })),
  x87Field('fiseg', (s) => s.fcs, (v) => ({ fcs: v })),
  x87Field('fioff', (s) => Number(s.fip & 0xffff_ffffn), (v) => ({ fip: BigInt(v) })),
  x87Field('foseg', (s) => s.fds, (v) => ({ fds: v })),
  x87Field('fooff', (s) => Number(s.fdp & 0xffff_ffffn), (v) => ({ fdp: BigInt(v) })),
  x87Field('fop', (s) => s.fop, (v) => ({ fop: v })),
  ...Array.from({ length: 16 }, (_, i): RegisterDef => ({
    name: `xmm${i}`, bits: 128, type: 'vec128', feature: 'sse', read: (c) => c.xmm(i), write: (c, v) => c.setXmm(i, v),
  })),
  { name: 'mxcsr', bits: 32, type: 'i386_mxcsr', group: 'vector', feature: 'sse', read: (c) => c.get('mxcsr'), write: (c, v) => c.set('mxcsr', v) },
  msrRegister('fs_base', Msr.FS_BASE, 'segments'),
  msrRegister('gs_base', Msr.GS_BASE, 'segments'),
  msrRegister('k_gs_base', Msr.KERNEL_GS_BASE, 'sys'),
  ...(['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer'] as const).map((name): RegisterDef => ({
    name, bits: 64, type: 'int64', feature: 'sys', read: (c) => c.get(name), write: (c, v) => c.set(name, v),
  })),
];

function x87Field(name: string, get: (s: ReturnType<GuestCpu['x87']>) => number, set: (v: number) => Parameters<GuestCpu['setX87']>[0]): RegisterDef {
  return { name, bits: 32, type: 'int', group: 'float', feature: 'core', read: (c) => BigInt(get(c.x87())), write: (c, v) => c.setX87(set(Number(v & 0xffff_ffffn))) };
}

/** Register `n`'s value as gdb's hex (little-endian, its full width). */
export function readRegisterHex(cpu: GuestCpu, n: number): string {
  const r = REGISTERS[n];
  if (!r) throw new ProtocolError(`no register ${n}`);
  const v = r.read(cpu);
  return typeof v === 'bigint' ? littleEndianHex(v, r.bits / 8) : toHex(v);
}

export function writeRegister(cpu: GuestCpu, n: number, bytes: Uint8Array): void {
  const r = REGISTERS[n];
  if (!r) throw new ProtocolError(`no register ${n}`);
  if (bytes.length !== r.bits / 8) throw new ProtocolError(`register ${r.name} is ${r.bits / 8} bytes, not ${bytes.length}`);
  if (!r.write) throw new ProtocolError(`register ${r.name} cannot be written`);
  r.write(cpu, littleEndianValue(bytes), bytes);
}

/** Bytes of the `g` packet. */
export const G_PACKET_BYTES = REGISTERS.reduce((n, r) => n + r.bits / 8, 0);

/** The target description (qXfer:features:read:target.xml). */
export function targetXml(): string {
  const features = (Object.keys(FEATURE_NAMES) as Feature[]).map((f) => {
    const regs = REGISTERS.map((r, i) => ({ r, i })).filter(({ r }) => r.feature === f)
      .map(({ r, i }) => `    <reg name="${r.name}" bitsize="${r.bits}" type="${r.type}" regnum="${i}"${r.group ? ` group="${r.group}"` : ''}/>`);
    return `  <feature name="${FEATURE_NAMES[f]}">\n${TYPES[f] ?? ''}${regs.join('\n')}\n  </feature>`;
  });
  return `<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
  <architecture>i386:x86-64</architecture>
${features.join('\n')}
</target>
`;
}

// Types as GDB's own feature files define them.
const TYPES: Partial<Record<Feature, string>> = {
  core: `    <flags id="i386_eflags" size="4">
      <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
      <field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
      <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
      <field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
      <field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
      <field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
    </flags>
`,
  sse: `    <vector id="v4f" type="ieee_single" count="4"/>
    <vector id="v2d" type="ieee_double" count="2"/>
    <vector id="v16i8" type="int8" count="16"/>
    <vector id="v8i16" type="int16" count="8"/>
    <vector id="v4i32" type="int32" count="4"/>
    <vector id="v2i64" type="int64" count="2"/>
    <union id="vec128">
      <field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>
      <field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>
      <field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/>
    </union>
    <flags id="i386_mxcsr" size="4">
      <field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/><field name="ZE" start="2" end="2"/>
      <field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
      <field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/><field name="DM" start="8" end="8"/>
      <field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
      <field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
    </flags>
`,
};
