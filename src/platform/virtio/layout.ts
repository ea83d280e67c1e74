// The virtio ABI (virtio 1.2, OASIS): the split virtqueue's memory layout,
// the device status and feature bits, and the virtio-pci "modern" transport's
// capability structures and common configuration registers. The one module
// that spells these numbers: the queue code, the transport and the tests'
// driver import them; device models never need them.

// ---- split virtqueue (section 2.7) ----

/** struct virtq_desc: le64 addr, le32 len, le16 flags, le16 next. */
export const DESC_SIZE = 16;
export const DESC_ADDR = 0;
export const DESC_LEN = 8;
export const DESC_FLAGS = 12;
export const DESC_NEXT = 14;
/** Descriptor flags. */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;

/** struct virtq_avail: le16 flags, le16 idx, le16 ring[size], le16 used_event (with EVENT_IDX). */
export const AVAIL_FLAGS = 0;
export const AVAIL_IDX = 2;
export const AVAIL_RING = 4;
export const AVAIL_ELEM_SIZE = 2;
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** used_event: after the ring's `size` entries. */
export const availUsedEvent = (size: number): number => AVAIL_RING + AVAIL_ELEM_SIZE * size;
export const availRingBytes = (size: number): number => AVAIL_RING + AVAIL_ELEM_SIZE * size + 2;

/** struct virtq_used: le16 flags, le16 idx, struct virtq_used_elem { le32 id; le32 len; } ring[size], le16 avail_event. */
export const USED_FLAGS = 0;
export const USED_IDX = 2;
export const USED_RING = 4;
export const USED_ELEM_SIZE = 8;
export const USED_ELEM_ID = 0;
export const USED_ELEM_LEN = 4;
export const VIRTQ_USED_F_NO_NOTIFY = 1;
/** avail_event: after the ring's `size` entries. */
export const usedAvailEvent = (size: number): number => USED_RING + USED_ELEM_SIZE * size;
export const usedRingBytes = (size: number): number => USED_RING + USED_ELEM_SIZE * size + 2;

/** Largest split queue (section 2.7: "Queue Size ... maximum 32768"). */
export const MAX_QUEUE_SIZE = 32768;
/** Alignment the driver must give each part of a split queue. */
export const DESC_ALIGN = 16;
export const AVAIL_ALIGN = 2;
export const USED_ALIGN = 4;

/** vring_need_event (section 2.7.10): whether moving the index from `old` to `next` crosses `event`. */
export function needEvent(event: number, next: number, old: number): boolean {
  return ((next - event - 1) & 0xffff) < ((next - old) & 0xffff);
}

// ---- device status (section 2.1) ----

export const STATUS_ACKNOWLEDGE = 1;
export const STATUS_DRIVER = 2;
export const STATUS_DRIVER_OK = 4;
export const STATUS_FEATURES_OK = 8;
export const STATUS_DEVICE_NEEDS_RESET = 0x40;
export const STATUS_FAILED = 0x80;

// ---- reserved feature bits (section 6), as bigint masks ----

export const VIRTIO_RING_F_INDIRECT_DESC = 1n << 28n;
export const VIRTIO_RING_F_EVENT_IDX = 1n << 29n;
export const VIRTIO_F_VERSION_1 = 1n << 32n;
export const VIRTIO_F_ACCESS_PLATFORM = 1n << 33n;
export const VIRTIO_F_RING_PACKED = 1n << 34n;

// ---- device IDs (section 5) ----

export const VirtioDeviceId = { NET: 1, BLOCK: 2, CONSOLE: 3, ENTROPY: 4, NINEP: 9, SOCKET: 19 } as const;

// ---- virtio over PCI (section 4.1) ----

export const VIRTIO_PCI_VENDOR = 0x1af4;
/** Modern (1.x only) devices: PCI device ID 0x1040 + virtio device ID, revision 1 or more. */
export const VIRTIO_PCI_DEVICE_BASE = 0x1040;
export const VIRTIO_PCI_REVISION = 1;
/** Subsystem ID of a modern device: 0x40 or more. */
export const VIRTIO_PCI_SUBSYSTEM = 0x40;

/** struct virtio_pci_cap: a vendor-specific (0x09) PCI capability. */
export const PCI_CAP_ID_VENDOR = 0x09;
export const VIRTIO_CAP_LEN = 0x10;           // without the notify cap's extra field
export const VIRTIO_NOTIFY_CAP_LEN = 0x14;    // + le32 notify_off_multiplier
/** Offsets in the capability (after cap_vndr at 0 and cap_next at 1, which the PCI layer writes). */
export const CAP_LEN = 2;
export const CAP_CFG_TYPE = 3;
export const CAP_BAR = 4;
export const CAP_ID = 5;
export const CAP_OFFSET = 8;
export const CAP_LENGTH = 12;
export const CAP_NOTIFY_OFF_MULTIPLIER = 16;
/** cfg_type values. */
export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
export const VIRTIO_PCI_CAP_PCI_CFG = 5;

/** struct virtio_pci_common_cfg: register offsets and sizes. */
export const CommonCfg = {
  DEVICE_FEATURE_SELECT: 0x00,  // le32
  DEVICE_FEATURE: 0x04,         // le32, read-only
  DRIVER_FEATURE_SELECT: 0x08,  // le32
  DRIVER_FEATURE: 0x0c,         // le32
  CONFIG_MSIX_VECTOR: 0x10,     // le16
  NUM_QUEUES: 0x12,             // le16, read-only
  DEVICE_STATUS: 0x14,          // u8
  CONFIG_GENERATION: 0x15,      // u8, read-only
  QUEUE_SELECT: 0x16,           // le16
  QUEUE_SIZE: 0x18,             // le16
  QUEUE_MSIX_VECTOR: 0x1a,      // le16
  QUEUE_ENABLE: 0x1c,           // le16
  QUEUE_NOTIFY_OFF: 0x1e,       // le16, read-only
  QUEUE_DESC: 0x20,             // le64
  QUEUE_DRIVER: 0x28,           // le64 (the avail ring)
  QUEUE_DEVICE: 0x30,           // le64 (the used ring)
  SIZE: 0x38,
} as const;

/** "No vector" in config_msix_vector and queue_msix_vector. */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;
/** ISR status bits (read clears them). */
export const ISR_QUEUE = 1;
export const ISR_CONFIG = 2;

/** PCI class code by device type (what QEMU reports; drivers match on vendor and device ID). */
export function virtioPciClass(deviceType: number): number {
  switch (deviceType) {
    case VirtioDeviceId.NET: return 0x020000;      // network controller
    case VirtioDeviceId.BLOCK: return 0x010000;    // SCSI storage controller
    case VirtioDeviceId.CONSOLE: return 0x078000;  // other communication controller
    default: return 0x00ff00;                      // unclassified
  }
}
