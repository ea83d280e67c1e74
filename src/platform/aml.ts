// Just enough of an AML encoder (ACPI 6.5 chapter 20) for our DSDT: names,
// integers, strings, packages, buffers, scopes, devices and the resource
// descriptors a PCI host bridge's _CRS needs. Each function returns bytes.

export type Aml = number[];

/** PkgLength: the length of everything after the opcode, itself included. */
function pkg(body: Aml): Aml {
  const n = body.length;
  if (n + 1 < 0x40) return [n + 1, ...body];
  if (n + 2 < 0x1000) { const t = n + 2; return [0x40 | (t & 0xf), t >> 4, ...body]; }
  if (n + 3 < 0x100000) { const t = n + 3; return [0x80 | (t & 0xf), (t >> 4) & 0xff, t >> 12, ...body]; }
  throw new RangeError(`AML package of ${n} bytes is too long`);
}

/** A name path such as "\\_SB.PCI0" or "_HID": segments padded with '_' to four characters. */
export function nameString(path: string): Aml {
  const out: Aml = [];
  let rest = path;
  while (rest.startsWith('\\') || rest.startsWith('^')) { out.push(rest.charCodeAt(0)); rest = rest.slice(1); }
  const segs = rest === '' ? [] : rest.split('.').map((s) => {
    if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(s)) throw new RangeError(`bad AML name segment "${s}"`);
    return s.padEnd(4, '_');
  });
  if (segs.length === 0) out.push(0x00);
  else if (segs.length === 2) out.push(0x2e);
  else if (segs.length > 2) out.push(0x2f, segs.length);
  for (const s of segs) for (let i = 0; i < 4; i++) out.push(s.charCodeAt(i));
  return out;
}

export function integer(v: number): Aml {
  if (!Number.isInteger(v) || v < 0 || v > Number.MAX_SAFE_INTEGER) throw new RangeError(`AML integer ${v}`);
  if (v === 0) return [0x00];
  if (v === 1) return [0x01];
  if (v <= 0xff) return [0x0a, v];
  if (v <= 0xffff) return [0x0b, ...le(v, 2)];
  if (v <= 0xffffffff) return [0x0c, ...le(v, 4)];
  return [0x0e, ...le(v, 8)];
}

export function string(s: string): Aml {
  return [0x0d, ...Array.from(s, (c) => c.charCodeAt(0) & 0x7f), 0x00];
}

/** EISAID("PNP0A03"): three compressed letters and four hex digits, as a DWORD. */
export function eisaId(id: string): Aml {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`bad EISA id "${id}"`);
  const c = (i: number) => id.charCodeAt(i) - 0x40;
  const hex = parseInt(id.slice(3), 16);
  const b0 = (c(0) << 2) | (c(1) >> 3);
  const b1 = ((c(1) & 7) << 5) | c(2);
  return [0x0c, b0, b1, hex >> 8, hex & 0xff];
}

export function name(path: string, value: Aml): Aml { return [0x08, ...nameString(path), ...value]; }
export function packageOf(elements: Aml[]): Aml { return [0x12, ...pkg([elements.length, ...elements.flat()])]; }
export function buffer(bytes: number[]): Aml { return [0x11, ...pkg([...integer(bytes.length), ...bytes])]; }
export function scope(path: string, body: Aml[]): Aml { return [0x10, ...pkg([...nameString(path), ...body.flat()])]; }
export function device(path: string, body: Aml[]): Aml { return [0x5b, 0x82, ...pkg([...nameString(path), ...body.flat()])]; }

// ---- resource descriptors (ACPI 6.5 section 6.4) ----

/** IO (Decode16, min, max, alignment, length). */
export function ioPort(min: number, max: number, alignment: number, length: number): number[] {
  return [0x47, 0x01, ...le(min, 2), ...le(max, 2), alignment, length];
}

/** Flags shared by the address space descriptors: a producer with fixed min and max, positive decode. */
const PRODUCER_FIXED = 0x0c;

/** WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, ...). */
export function wordBusNumber(min: number, max: number): number[] {
  return [0x88, ...le(13, 2), 0x02, PRODUCER_FIXED, 0x00, ...le(0, 2), ...le(min, 2), ...le(max, 2), ...le(0, 2), ...le(max - min + 1, 2)];
}

/** WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...). */
export function wordIo(min: number, max: number): number[] {
  return [0x88, ...le(13, 2), 0x01, PRODUCER_FIXED, 0x03, ...le(0, 2), ...le(min, 2), ...le(max, 2), ...le(0, 2), ...le(max - min + 1, 2)];
}

/** DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...). */
export function dwordMemory(min: number, max: number): number[] {
  return [0x87, ...le(23, 2), 0x00, PRODUCER_FIXED, 0x01, ...le(0, 4), ...le(min, 4), ...le(max, 4), ...le(0, 4), ...le(max - min + 1, 4)];
}

/** A ResourceTemplate: the descriptors and an end tag (checksum 0: "assume valid"). */
export function resourceTemplate(descriptors: number[][]): Aml {
  return buffer([...descriptors.flat(), 0x79, 0x00]);
}

function le(v: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
  return out;
}
