// What a virtio device model is to its transport (virtio-pci): the contract
// between the transport and queue code, which alone know the virtio layouts
// (virtio/layout.ts), and the devices (block, 9P, entropy, socket), which
// see descriptor chains as byte ranges and never spell a ring offset.
// Every guest-memory access behind these interfaces goes through the core's
// DMA port (dmaprot): a device cannot reach memory it is refused.

/** One virtio device, as the transport drives it. */
export interface VirtioDevice {
  /** Name in reports (DMA violations, errors), e.g. "virtio-blk0". */
  readonly name: string;
  /** Virtio device ID (virtio 1.2 section 5): 2 block, 4 entropy, 9 9P transport, 19 socket. */
  readonly deviceType: number;
  /** Device-specific feature bits offered; the transport adds the transport and ring features it implements (VIRTIO_F_VERSION_1, ...). */
  readonly features: bigint;
  /** Largest size of each virtqueue, by queue index (their number is the length). */
  readonly queueSizes: readonly number[];
  /** Bytes of device-specific configuration space. */
  readonly configSize: number;
  configRead(offset: number, size: number): number;
  configWrite(offset: number, size: number, value: number): void;
  /**
   * The driver set DRIVER_OK with the `negotiated` features: the device may
   * use its queues from now on, until reset().
   */
  activate(queues: VirtioQueues, negotiated: bigint): void;
  /** The driver notified queue `index` (only after activate, for an enabled queue). */
  notify(index: number): void;
  /** Device reset: drop in-flight work and forget the queues until the next activate. */
  reset(): void;
  /** The VM's run is over: release what the device holds on the host (files, locks, sockets). */
  close?(): void;
}

/** The device's view of its queues and of the transport's status, valid from activate to reset. */
export interface VirtioQueues {
  /** Queue `index`, or undefined if the driver did not enable it. */
  get(index: number): Virtqueue | undefined;
  /** The device-specific configuration changed: interrupt the driver. */
  configChanged(): void;
  /**
   * The driver broke the rules beyond recovery: set DEVICE_NEEDS_RESET,
   * interrupt the driver, process nothing more until reset. `reason` is for
   * the host's log.
   */
  needsReset(reason: string): void;
}

/** A split virtqueue, from the device side. */
export interface Virtqueue {
  readonly index: number;
  readonly size: number;
  /**
   * The next chain the driver made available, or undefined when there is
   * none, or when the ring is malformed (then needsReset was called).
   */
  pop(): DescriptorChain | undefined;
  /**
   * Interrupt the driver if chains were completed since the last call and the
   * driver asked to be told. The transport calls it after each notify(); a
   * device that completes later (asynchronously) calls it after a batch.
   */
  flush(): void;
}

/** One descriptor chain: the driver-readable bytes, then the device-writable bytes. */
export interface DescriptorChain {
  /** Head descriptor index (the id the used ring reports). */
  readonly head: number;
  /** Bytes the device may read, over all driver-readable descriptors. */
  readonly readableLength: number;
  /** Bytes the device may write, over all device-writable descriptors. */
  readonly writableLength: number;
  /**
   * Bytes [offset, offset + length) of the readable part, gathered through
   * dmaprot; undefined if that is out of the chain's range or dmaprot refused
   * any of it (the violation is reported to the core).
   */
  read(offset: number, length: number): Uint8Array | undefined;
  /**
   * Scatter `bytes` into the writable part from `offset` through dmaprot;
   * false if out of range or refused (a refused buffer is left untouched).
   */
  write(offset: number, bytes: Uint8Array): boolean;
  /** Return the chain to the driver (used ring) with `written` bytes written. Once per chain. */
  complete(written: number): void;
}
