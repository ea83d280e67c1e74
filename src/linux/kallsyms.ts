// Finds and decodes the kernel's own symbol table (kallsyms) in a copy of its
// image, as scripts/kallsyms.c lays it out in Linux 6.x with
// CONFIG_KALLSYMS_BASE_RELATIVE (x86-64):
//   kallsyms_offsets[N] (s32), kallsyms_relative_base (u64, = _text),
//   kallsyms_num_syms (u32), kallsyms_names, kallsyms_markers[(N+255)/256] (u32),
//   [kallsyms_seqs_of_names (3 bytes each; 6.2 and Debian's 6.1)],
//   kallsyms_token_table (256 NUL-terminated strings), kallsyms_token_index[256] (u16).
// Found by structure, not by address: the token table (whose entries for the
// digits are the digits themselves), the markers before it, the symbol count
// and names before those, the offsets before the count.

export interface KernelSymbol {
  name: string;
  address: bigint;
  /** The type letter /proc/kallsyms prints (T text, D data, A absolute, ...). */
  type: string;
}

export class KallsymsError extends Error {}

const DIGITS = new TextEncoder().encode('0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00');
/** How far before the token table the markers may lie: the seqs_of_names table (3 bytes a symbol) plus slack. */
const MARKER_SEARCH = 3 * 1_000_000 + 64;

interface Tables {
  tokens: string[];
  tokenTable: number;
  markers: number;
  markerCount: number;
  names: number;
  count: number;
  offsets: number;
  relativeBase: bigint;
}

/** Every symbol of the core kernel, in the order /proc/kallsyms lists them. */
export function readKallsyms(image: Uint8Array): { symbols: KernelSymbol[]; relativeBase: bigint } {
  const t = findTables(image);
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const symbols: KernelSymbol[] = new Array(t.count);
  // Absolute per-cpu mode (x86-64 SMP): non-negative offsets are absolute values.
  let absolutePercpu = false;
  for (let i = 0; i < t.count && !absolutePercpu; i++) if (dv.getInt32(t.offsets + 4 * i, true) < 0) absolutePercpu = true;
  let p = t.names;
  for (let i = 0; i < t.count; i++) {
    let len = image[p++];
    if (len & 0x80) len = (len & 0x7f) | (image[p++] << 7);
    let text = '';
    for (let k = 0; k < len; k++) text += t.tokens[image[p + k]];
    p += len;
    const off = dv.getInt32(t.offsets + 4 * i, true);
    const address = absolutePercpu
      ? (off >= 0 ? BigInt(off) : BigInt.asUintN(64, t.relativeBase - 1n - BigInt(off)))
      : BigInt.asUintN(64, t.relativeBase + BigInt(off >>> 0));
    symbols[i] = { type: text[0], name: text.slice(1), address };
  }
  return { symbols, relativeBase: t.relativeBase };
}

function findTables(image: Uint8Array): Tables {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  for (let at = indexOf(image, DIGITS, 0); at >= 0; at = indexOf(image, DIGITS, at + 1)) {
    const tok = tokenTableAround(image, dv, at);
    if (!tok) continue;
    const markers = findMarkers(dv, tok.start);
    if (!markers) continue;
    const names = findNames(image, dv, markers.at, markers.values);
    if (!names) continue;
    const offsets = names.countAt - 8 - 4 * names.count;
    if (offsets < 0) continue;
    return {
      tokens: tok.tokens, tokenTable: tok.start, markers: markers.at, markerCount: markers.values.length,
      names: names.at, count: names.count, offsets, relativeBase: dv.getBigUint64(names.countAt - 8, true),
    };
  }
  throw new KallsymsError('no kallsyms tables found in the kernel image (a kernel without CONFIG_KALLSYMS_ALL, or not Linux 5.x-6.x x86-64)');
}

/** The token table whose '0' token is at `digits`, checked against the token index after it. */
function tokenTableAround(image: Uint8Array, dv: DataView, digits: number): { start: number; tokens: string[] } | undefined {
  let p = digits;
  for (let t = 0x30; t < 256; t++) {
    const nul = image.indexOf(0, p);
    if (nul < 0 || nul - p > 64) return undefined;
    p = nul + 1;
  }
  for (let index = (p + 1) & ~1; index <= p + 8 && index + 512 <= image.length; index += 2) {
    if (dv.getUint16(index, true) !== 0) continue;
    const start = digits - dv.getUint16(index + 0x30 * 2, true);
    if (start < 0) continue;
    const tokens: string[] = [];
    let ok = true;
    for (let t = 0; t < 256 && ok; t++) {
      const s = start + dv.getUint16(index + 2 * t, true);
      const nul = image.indexOf(0, s);
      if (nul < 0 || (t > 0 && s !== tokensEnd(start, dv, index, t - 1, image))) ok = false;
      else tokens.push(latin1(image, s, nul));
    }
    if (ok && tokens[0x30] === '0' && tokens[0x39] === '9') return { start, tokens };
  }
  return undefined;
}

function tokensEnd(start: number, dv: DataView, index: number, t: number, image: Uint8Array): number {
  return image.indexOf(0, start + dv.getUint16(index + 2 * t, true)) + 1;
}

/** The markers array (ascending u32 from 0, one per 256 names) ending shortly before the token table. */
function findMarkers(dv: DataView, tokenTable: number): { at: number; values: number[] } | undefined {
  let best: { at: number; values: number[] } | undefined;
  const lowest = Math.max(0, tokenTable - MARKER_SEARCH);
  for (let a = (tokenTable - 4) & ~3; a >= lowest; a -= 4) {
    if (dv.getUint32(a, true) !== 0) continue;
    const values = [0];
    // Each 256 names take at least 2 bytes each and rarely more than 40.
    for (let k = a + 4; k + 4 <= tokenTable; k += 4) {
      const v = dv.getUint32(k, true), prev = values[values.length - 1];
      if (v <= prev || v - prev < 256 * 2 || v - prev > 256 * 64) break;
      values.push(v);
    }
    if (values.length >= 8 && (!best || values.length > best.values.length)) best = { at: a, values };
    if (best && best.values.length > 100) break;
  }
  return best;
}

/** kallsyms_num_syms and the names after it, checked against the markers (every 256th name starts where its marker says). */
function findNames(image: Uint8Array, dv: DataView, markers: number, values: number[]): { countAt: number; at: number; count: number } | undefined {
  const last = values[values.length - 1];
  const minCount = (values.length - 1) * 256 + 1, maxCount = values.length * 256;
  // Names occupy at least `last` bytes before the markers; the last (partial) block at most 256 long entries.
  for (let countAt = (markers - last - 8) & ~3; countAt >= Math.max(8, markers - last - 256 * 300); countAt -= 4) {
    const count = dv.getUint32(countAt, true);
    if (count < minCount || count > maxCount) continue;
    for (const at of [countAt + 4, (countAt + 4 + 7) & ~7]) {
      if (namesMatch(image, at, values, count, markers)) return { countAt, at, count };
    }
  }
  return undefined;
}

function namesMatch(image: Uint8Array, at: number, values: number[], count: number, markers: number): boolean {
  let p = at;
  for (let i = 0; i < count; i++) {
    if ((i & 255) === 0 && p - at !== values[i >> 8]) return false;
    let len = image[p++];
    if (len & 0x80) len = (len & 0x7f) | (image[p++] << 7);
    if (len === 0) return false;
    p += len;
    if (p > markers) return false;
  }
  return markers - p < 8;
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(needle, from);
}

function latin1(b: Uint8Array, from: number, to: number): string {
  return Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('latin1');
}
