// A set of block numbers kept as a bitmap allocated in pieces as blocks are
// added, so a large disk of which the guest writes little costs little.

/** Blocks per piece of the bitmap (one 4 KiB Uint32Array). */
const PIECE_BLOCKS = 1 << 15;

export class BlockSet {
  private readonly pieces = new Map<number, Uint32Array>();

  has(block: number): boolean {
    const piece = this.pieces.get(Math.floor(block / PIECE_BLOCKS));
    const bit = block % PIECE_BLOCKS;
    return piece !== undefined && (piece[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }

  add(block: number): void {
    const key = Math.floor(block / PIECE_BLOCKS);
    let piece = this.pieces.get(key);
    if (!piece) this.pieces.set(key, piece = new Uint32Array(PIECE_BLOCKS / 32));
    const bit = block % PIECE_BLOCKS;
    piece[bit >>> 5] |= 1 << (bit & 31);
  }

  /** Host bytes the bitmap holds. */
  get bytes(): number { return this.pieces.size * PIECE_BLOCKS / 8; }
}
