// What a disk device sees of its backing store: a fixed-size byte array on
// the host, read and written at byte offsets, flushed to stable storage on
// request. Raw files (raw-file.ts) and the snapshot overlay (snapshot.ts)
// implement it; open.ts picks one from a DiskSpec.

/** A disk the user asked for: `--disk FILE[,ro][,snapshot]`. */
export interface DiskSpec {
  path: string;
  /** The guest may not write (the device offers VIRTIO_BLK_F_RO); the file is opened read-only. */
  readOnly?: boolean;
  /** The guest may write, but to a host-side overlay dropped at exit; the file is opened read-only. */
  snapshot?: boolean;
}

export interface DiskImage {
  /** Bytes the guest sees (the file's size when it was opened). */
  readonly size: number;
  /** Writes are refused (the device tells the guest it is read-only). */
  readonly readOnly: boolean;
  /** A stable name of the file behind the disk (the guest's disk serial is made from it). */
  readonly identity: string;
  /** The file, for messages. */
  readonly path: string;
  /** Fill `into` from byte `offset` (offset + into.length <= size). */
  read(offset: number, into: Uint8Array): void;
  /** Write `data` at byte `offset` (offset + data.length <= size); throws if readOnly. */
  write(offset: number, data: Uint8Array): void;
  /** What was written reaches stable storage before this returns (a no-op where nothing outlives the run). */
  flush(): void;
  /** Release the file, its lock and any overlay. Idempotent. */
  close(): void;
}

/** A disk image that cannot be used, with a message naming the file and what is wrong. */
export class DiskError extends Error {}
