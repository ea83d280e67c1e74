// The GDB remote serial protocol's framing: `$payload#cs` packets with a
// modulo-256 checksum, `}` escapes, `+`/`-` acknowledgements and the lone
// 0x03 byte (Ctrl-C) between packets. The reader never throws on garbage:
// bytes outside a packet are ignored, a bad checksum or an oversized packet
// is answered with '-' (gdb resends).

/** Longest packet payload accepted (and advertised as PacketSize). */
export const MAX_PACKET = 0x4000;

export type Incoming =
  | { kind: 'packet'; payload: Uint8Array }
  | { kind: 'interrupt' }
  | { kind: 'ack' }
  | { kind: 'nack' }
  /** A packet that was corrupt (bad checksum, too long): the stub answers '-'. */
  | { kind: 'corrupt'; reason: string };

/** Splits a byte stream into packets, acknowledgements and interrupts. */
export class PacketReader {
  private state: 'idle' | 'payload' | 'escape' | 'sum1' | 'sum2' = 'idle';
  private payload: number[] = [];
  private sum = 0;
  private theirSum = 0;
  private overflow = false;

  push(bytes: Uint8Array): Incoming[] {
    const out: Incoming[] = [];
    for (const b of bytes) {
      switch (this.state) {
        case 'idle':
          if (b === 0x24 /* $ */) { this.state = 'payload'; this.payload = []; this.sum = 0; this.overflow = false; }
          else if (b === 0x03) out.push({ kind: 'interrupt' });
          else if (b === 0x2b /* + */) out.push({ kind: 'ack' });
          else if (b === 0x2d /* - */) out.push({ kind: 'nack' });
          break;
        case 'payload':
        case 'escape':
          if (b === 0x23 /* # */ && this.state === 'payload') { this.state = 'sum1'; break; }
          this.sum = (this.sum + b) & 0xff;
          if (this.state === 'escape') { this.add(b ^ 0x20); this.state = 'payload'; }
          else if (b === 0x7d /* } */) this.state = 'escape';
          else if (b === 0x24) { this.payload = []; this.sum = 0; this.overflow = false; } // a new packet: the old one was cut
          else this.add(b);
          break;
        case 'sum1':
          this.theirSum = hexDigit(b) << 4;
          this.state = 'sum2';
          break;
        case 'sum2': {
          this.theirSum |= hexDigit(b);
          this.state = 'idle';
          if (this.overflow) out.push({ kind: 'corrupt', reason: `packet longer than ${MAX_PACKET} bytes` });
          else if (this.theirSum !== this.sum) out.push({ kind: 'corrupt', reason: 'bad checksum' });
          else out.push({ kind: 'packet', payload: Uint8Array.from(this.payload) });
          this.payload = [];
          break;
        }
      }
    }
    return out;
  }

  private add(b: number): void {
    if (this.payload.length >= MAX_PACKET) { this.overflow = true; return; }
    this.payload.push(b);
  }
}

/** A hex digit's value, or 0x100 (which no checksum matches) for anything else. */
function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return 0x100;
}

/** `$payload#cs`, with `$ # } *` escaped. */
export function framePacket(payload: string | Uint8Array): Uint8Array {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const out: number[] = [0x24];
  let sum = 0;
  for (const b of bytes) {
    if (b === 0x24 || b === 0x23 || b === 0x7d || b === 0x2a) {
      out.push(0x7d, b ^ 0x20);
      sum += 0x7d + (b ^ 0x20);
    } else {
      out.push(b);
      sum += b;
    }
  }
  out.push(0x23, ...Buffer.from((sum & 0xff).toString(16).padStart(2, '0'), 'latin1'));
  return Uint8Array.from(out);
}

// ---- hex helpers ----
export function toHex(bytes: Uint8Array): string { return Buffer.from(bytes).toString('hex'); }

/** Bytes from hex text; throws on odd length or a non-hex digit. */
export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new ProtocolError(`"${text.slice(0, 32)}" is not hex bytes`);
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

/** A hex number (an address, a length); throws on anything else. */
export function hexNumber(text: string | undefined): bigint {
  if (text === undefined || !/^[0-9a-fA-F]{1,16}$/.test(text)) throw new ProtocolError(`"${String(text).slice(0, 32)}" is not a hex number`);
  return BigInt(`0x${text}`);
}

/** `value` as `bytes` little-endian bytes in hex. */
export function littleEndianHex(value: bigint, bytes: number): string {
  const out = new Uint8Array(bytes);
  let v = BigInt.asUintN(bytes * 8, value);
  for (let i = 0; i < bytes; i++) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return toHex(out);
}

export function littleEndianValue(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

/** A request the stub cannot parse: answered with an error packet. */
export class ProtocolError extends Error {}
