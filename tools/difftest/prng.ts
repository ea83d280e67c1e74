// Deterministic PRNG (sfc32) so that a seed names a campaign exactly.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A value of `bits` width biased towards the edge cases arithmetic gets wrong. */
  interesting(bits: number): bigint {
    const mask = (1n << BigInt(bits)) - 1n;
    const top = 1n << BigInt(bits - 1);
    switch (this.int(10)) {
      case 0: return this.pick([0n, 1n, 2n, mask, mask - 1n, top, top - 1n, top + 1n]);
      case 1: return BigInt(this.int(64));
      case 2: return (mask - BigInt(this.int(64))) & mask;
      case 3: return (top + BigInt(this.int(16)) - 8n) & mask;
      case 4: return (1n << BigInt(this.int(bits))) & mask;
      default: return this.u64() & mask;
    }
  }
}
