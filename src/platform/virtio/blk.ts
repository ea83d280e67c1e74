// virtio-blk (virtio 1.2 section 5.2): a disk image as the guest's /dev/vdX.
// One request per descriptor chain: a 16-byte header (type, reserved,
// sector) in the driver-readable part, data after it (writes) or in the
// device-writable part (reads, the ID), and a status byte at the very end of
// the writable part. Requests are served at once, inside the notification
// (the vCPU waits, as for any device access): reads and writes of the host
// file are page-cache copies, and FLUSH is an fdatasync. The request and
// configuration layouts below are this device's ABI and are spelled only
// here; ring layouts belong to the transport.
import { createHash } from 'node:crypto';
import type { DescriptorChain, VirtioDevice, VirtioQueues } from './device.js';
import type { DiskImage } from '../disk/image.js';
import { SECTOR_SIZE } from '../disk/open.js';

export const VIRTIO_ID_BLOCK = 2;

/** Feature bits (5.2.3). */
export const BlkFeature = {
  SIZE_MAX: 1n << 1n,
  SEG_MAX: 1n << 2n,
  RO: 1n << 5n,
  BLK_SIZE: 1n << 6n,
  FLUSH: 1n << 9n,
  WRITE_ZEROES: 1n << 14n,
} as const;

/** Request types (5.2.6). */
export const BlkRequest = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8, GET_LIFETIME: 10, DISCARD: 11, WRITE_ZEROES: 13, SECURE_ERASE: 14 } as const;
/** The status byte. */
export const BlkStatus = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;

/** struct virtio_blk_req's header: le32 type, le32 reserved, le64 sector. */
export const REQUEST_HEADER_SIZE = 16;
/** struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags (bit 0: unmap). */
export const ZEROES_SEGMENT_SIZE = 16;
const ZEROES_FLAG_UNMAP = 1;
/** Bytes of the answer to GET_ID (a string, NUL-padded, unterminated at 20). */
export const BLK_ID_BYTES = 20;

/** struct virtio_blk_config offsets (5.2.4), up to the write-zeroes fields this device offers. */
export const BlkConfig = {
  CAPACITY: 0, // le64, in 512-byte sectors
  SIZE_MAX: 8, // le32, largest segment
  SEG_MAX: 12, // le32, most segments in a request
  GEOMETRY: 16, // cylinders le16, heads u8, sectors u8 (not offered)
  BLK_SIZE: 20, // le32
  TOPOLOGY: 24, // 8 bytes (not offered)
  WRITEBACK: 32, // u8 (CONFIG_WCE, not offered)
  NUM_QUEUES: 34, // le16 (MQ, not offered)
  MAX_DISCARD_SECTORS: 36,
  MAX_DISCARD_SEG: 40,
  DISCARD_SECTOR_ALIGNMENT: 44,
  MAX_WRITE_ZEROES_SECTORS: 48, // le32
  MAX_WRITE_ZEROES_SEG: 52, // le32
  WRITE_ZEROES_MAY_UNMAP: 56, // u8
  SIZE: 60,
} as const;

export const QUEUE_SIZE = 256;
/** Segments per request: the queue less the header and status descriptors, as QEMU offers. */
const SEG_MAX = QUEUE_SIZE - 2;
/** Largest segment the driver may give (Linux merges adjacent pages into one segment up to this). */
const SIZE_MAX = 1 << 20;
/**
 * Data moves between the file and guest memory in pieces of at most this
 * much, so a request's host memory is bounded whatever size the guest asks
 * for. Linux's requests (max_sectors_kb, 1280 KiB by default) fit in one
 * piece: a read into memory dmaprot refuses then leaves all of its buffer
 * untouched; a longer request may have filled the pieces before the refused one.
 */
const PIECE = 4 << 20;
const MAX_WRITE_ZEROES_SECTORS = 1 << 22; // 2 GiB per request
const MAX_WRITE_ZEROES_SEG = 1;

export interface VirtioBlkOptions {
  /** Name in reports, e.g. "virtio-blk0". */
  name: string;
  image: DiskImage;
  /** Host-side problems (an I/O error of the image file): the guest sees IOERR, the host's log says why. */
  log?: (line: string) => void;
}

/** What serving one request came to: the status byte, and how many bytes at the start of the writable part were written before it. */
interface Outcome { status: number; written: number }

export class VirtioBlk implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly queueSizes = [QUEUE_SIZE];
  readonly configSize = BlkConfig.SIZE;
  readonly features: bigint;
  readonly name: string;
  /** The ID GET_ID answers: "xmhf" and a digest of the image's identity (/dev/disk/by-id/virtio-<serial>). */
  readonly serial: string;
  private readonly image: DiskImage;
  private readonly log: (line: string) => void;
  private readonly config = new Uint8Array(BlkConfig.SIZE);
  private queues: VirtioQueues | undefined;
  private buffer: Uint8Array | undefined;
  private loggedIoError = false;

  constructor(o: VirtioBlkOptions) {
    this.name = o.name;
    this.image = o.image;
    this.log = o.log ?? (() => {});
    this.serial = `xmhf${createHash('sha256').update(o.image.identity).digest('hex').slice(0, BLK_ID_BYTES - 4)}`;
    this.features = BlkFeature.SIZE_MAX | BlkFeature.SEG_MAX | BlkFeature.BLK_SIZE | BlkFeature.FLUSH
      | (o.image.readOnly ? BlkFeature.RO : BlkFeature.WRITE_ZEROES);
    const c = new DataView(this.config.buffer);
    c.setBigUint64(BlkConfig.CAPACITY, BigInt(this.sectors), true);
    c.setUint32(BlkConfig.SIZE_MAX, SIZE_MAX, true);
    c.setUint32(BlkConfig.SEG_MAX, SEG_MAX, true);
    c.setUint32(BlkConfig.BLK_SIZE, SECTOR_SIZE, true);
    c.setUint32(BlkConfig.MAX_WRITE_ZEROES_SECTORS, MAX_WRITE_ZEROES_SECTORS, true);
    c.setUint32(BlkConfig.MAX_WRITE_ZEROES_SEG, MAX_WRITE_ZEROES_SEG, true);
  }

  /** The disk's size in sectors. */
  get sectors(): number { return Math.floor(this.image.size / SECTOR_SIZE); }

  configRead(offset: number, size: number): number {
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = value * 256 + (this.config[offset + i] ?? 0);
    return value;
  }

  /** Every field this device offers is read-only. */
  configWrite(): void {}

  activate(queues: VirtioQueues, _negotiated: bigint): void { this.queues = queues; }

  reset(): void { this.queues = undefined; }

  close(): void { this.image.close(); }

  notify(index: number): void {
    const queue = this.queues?.get(index);
    if (!queue) return;
    for (let chain = queue.pop(); chain; chain = queue.pop()) this.serve(chain);
  }

  /** Serve one request and return its chain to the driver. */
  private serve(chain: DescriptorChain): void {
    // With no room for a status byte the driver cannot hear any answer: the chain goes back untouched.
    if (chain.writableLength < 1) { chain.complete(0); return; }
    const statusAt = chain.writableLength - 1;
    const { status, written } = this.request(chain, statusAt);
    if (!chain.write(statusAt, Uint8Array.of(status))) { chain.complete(Math.min(written, statusAt)); return; }
    chain.complete(written >= statusAt ? statusAt + 1 : written);
  }

  private request(chain: DescriptorChain, dataLength: number): Outcome {
    const header = chain.readableLength >= REQUEST_HEADER_SIZE ? chain.read(0, REQUEST_HEADER_SIZE) : undefined;
    if (!header) return failed();
    const h = new DataView(header.buffer, header.byteOffset, header.length);
    const type = h.getUint32(0, true);
    const sector = h.getBigUint64(8, true);
    try {
      switch (type) {
        case BlkRequest.IN: return this.readData(chain, sector, dataLength);
        case BlkRequest.OUT: return this.writeData(chain, sector, chain.readableLength - REQUEST_HEADER_SIZE);
        case BlkRequest.FLUSH: this.image.flush(); return ok(0);
        case BlkRequest.GET_ID: return this.getId(chain, dataLength);
        case BlkRequest.WRITE_ZEROES: return this.writeZeroes(chain);
        default: return { status: BlkStatus.UNSUPP, written: 0 };
      }
    } catch (e) {
      // The host file failed (EIO, ENOSPC...): the guest sees an I/O error; the host hears of the first.
      if (!this.loggedIoError) {
        this.loggedIoError = true;
        this.log(`${this.name}: ${this.image.path}: ${(e as Error).message} (the guest sees I/O errors)`);
      }
      return failed();
    }
  }

  /** IN: sectors from `sector` into the writable part, `length` bytes. */
  private readData(chain: DescriptorChain, sector: bigint, length: number): Outcome {
    const start = this.byteRange(sector, length);
    if (start === undefined) return failed();
    for (let done = 0; done < length; done += PIECE) {
      const piece = this.piece(Math.min(PIECE, length - done));
      this.image.read(start + done, piece);
      if (!chain.write(done, piece)) return failed(done);
    }
    return ok(length);
  }

  /** OUT: the readable part after the header, `length` bytes, to sectors from `sector`. */
  private writeData(chain: DescriptorChain, sector: bigint, length: number): Outcome {
    const start = this.byteRange(sector, length);
    if (start === undefined || this.image.readOnly) return failed();
    for (let done = 0; done < length; done += PIECE) {
      const data = chain.read(REQUEST_HEADER_SIZE + done, Math.min(PIECE, length - done));
      if (!data) return failed();
      this.image.write(start + done, data);
    }
    return ok(0);
  }

  private getId(chain: DescriptorChain, room: number): Outcome {
    const id = new Uint8Array(BLK_ID_BYTES);
    id.set(new TextEncoder().encode(this.serial));
    const n = Math.min(room, BLK_ID_BYTES);
    return chain.write(0, id.subarray(0, n)) ? ok(n) : failed();
  }

  /** WRITE_ZEROES: each segment's sectors become zero (unmapping is not offered, so the flag changes nothing). */
  private writeZeroes(chain: DescriptorChain): Outcome {
    const bytes = chain.readableLength - REQUEST_HEADER_SIZE;
    const count = bytes / ZEROES_SEGMENT_SIZE;
    if (this.image.readOnly || !Number.isInteger(count) || count < 1 || count > MAX_WRITE_ZEROES_SEG) return failed();
    const segments = chain.read(REQUEST_HEADER_SIZE, bytes);
    if (!segments) return failed();
    const s = new DataView(segments.buffer, segments.byteOffset, segments.length);
    const ranges: Array<{ start: number; length: number }> = [];
    for (let i = 0; i < count; i++) {
      const at = i * ZEROES_SEGMENT_SIZE;
      const sectors = s.getUint32(at + 8, true);
      if ((s.getUint32(at + 12, true) & ~ZEROES_FLAG_UNMAP) !== 0) return { status: BlkStatus.UNSUPP, written: 0 };
      const start = sectors <= MAX_WRITE_ZEROES_SECTORS ? this.byteRange(s.getBigUint64(at, true), sectors * SECTOR_SIZE) : undefined;
      if (start === undefined) return failed();
      ranges.push({ start, length: sectors * SECTOR_SIZE });
    }
    for (const { start, length } of ranges) {
      for (let done = 0; done < length; done += PIECE) {
        const n = Math.min(PIECE, length - done);
        this.image.write(start + done, this.piece(n).fill(0));
      }
    }
    return ok(0);
  }

  /** The byte offset of `sector` when `length` bytes from there are whole sectors inside the disk; undefined otherwise. */
  private byteRange(sector: bigint, length: number): number | undefined {
    if (length < 0 || length % SECTOR_SIZE !== 0 || sector > BigInt(this.sectors)) return undefined;
    const start = Number(sector) * SECTOR_SIZE;
    return start + length <= this.image.size ? start : undefined;
  }

  /** A scratch buffer of `length` bytes (one, reused: a request's data never outlives the request). */
  private piece(length: number): Uint8Array {
    this.buffer ??= new Uint8Array(PIECE);
    return this.buffer.subarray(0, length);
  }
}

const ok = (written: number): Outcome => ({ status: BlkStatus.OK, written });
const failed = (written = 0): Outcome => ({ status: BlkStatus.IOERR, written });
