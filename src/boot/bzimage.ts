// The Linux x86 boot protocol's setup header (Documentation/arch/x86/boot.rst),
// validated for a boot from protected or long mode: a bzImage we can enter at
// its 64-bit entry (64-bit kernels) or at code32_start (32-bit kernels).

export interface SetupHeader {
  /** Boot protocol version, e.g. 0x20f for 2.15. */
  version: number;
  setupSects: number;
  /** Offset of the protected-mode kernel in the file. */
  kernelOffset: number;
  loadFlags: number;
  xloadFlags: number;
  /** The kernel has a 64-bit entry (XLF_KERNEL_64); a 32-bit kernel is entered at code32_start. */
  entry64: boolean;
  relocatable: boolean;
  kernelAlignment: number;
  prefAddress: bigint;
  /** Memory the kernel needs from its load address while it decompresses itself. */
  initSize: number;
  initrdAddrMax: number;
  cmdlineSize: number;
  /** The compressed kernel inside the protected-mode part, relative to it. */
  payloadOffset: number;
  payloadLength: number;
}

export class BootProtocolError extends Error {}

/** Protocol 2.10 added pref_address and init_size, which say where the kernel decompresses itself. */
const MIN_VERSION = 0x20a;
/** Protocol 2.12 added xloadflags, which says whether a 64-bit entry exists. */
const XLOADFLAGS_VERSION = 0x20c;
const XLF_KERNEL_64 = 1;

/** Parse and check the setup header of a bzImage. */
export function parseBzImage(file: Uint8Array, what = 'the kernel'): SetupHeader {
  const fail = (why: string): never => { throw new BootProtocolError(`${what} cannot be booted: ${why}`); };
  if (file.length < 0x268) fail(`only ${file.length} bytes, too short for a setup header`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (v.getUint16(0x1fe, true) !== 0xaa55) fail('no boot sector signature (0xAA55): not a bzImage');
  if (v.getUint32(0x202, true) !== 0x53726448) fail('no "HdrS" setup header: not a Linux bzImage');
  const version = v.getUint16(0x206, true);
  const versionText = `${version >> 8}.${version & 0xff}`;
  if (version < MIN_VERSION) fail(`boot protocol ${versionText} is too old (booting from protected mode needs 2.10 or later)`);
  const setupSects = file[0x1f1] === 0 ? 4 : file[0x1f1];
  const kernelOffset = (setupSects + 1) * 512;
  if (kernelOffset >= file.length) fail(`setup code (${setupSects} sectors) covers the whole file: truncated?`);
  const loadFlags = file[0x211];
  if ((loadFlags & 1) === 0) fail('not loaded high (LOADED_HIGH clear): a zImage, not a bzImage');
  const xloadFlags = version >= XLOADFLAGS_VERSION ? v.getUint16(0x236, true) : 0;
  const header: SetupHeader = {
    version,
    setupSects,
    kernelOffset,
    loadFlags,
    xloadFlags,
    entry64: (xloadFlags & XLF_KERNEL_64) !== 0,
    relocatable: file[0x234] !== 0,
    kernelAlignment: v.getUint32(0x230, true),
    prefAddress: v.getBigUint64(0x258, true),
    initSize: v.getUint32(0x260, true),
    initrdAddrMax: v.getUint32(0x22c, true),
    cmdlineSize: v.getUint32(0x238, true),
    payloadOffset: v.getUint32(0x248, true),
    payloadLength: v.getUint32(0x24c, true),
  };
  if (kernelOffset + header.payloadOffset + header.payloadLength > file.length) fail('the compressed kernel runs past the end of the file: truncated?');
  return header;
}

/** The compressed vmlinux inside a bzImage, and its compression by magic number. */
export function bzImagePayload(file: Uint8Array, h: SetupHeader): { data: Uint8Array; format: string } {
  const start = h.kernelOffset + h.payloadOffset;
  const data = file.subarray(start, start + h.payloadLength);
  const magic = (bytes: number[]) => bytes.every((b, i) => data[i] === b);
  const format = magic([0x1f, 0x8b]) ? 'gzip' : magic([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) ? 'xz' :
    magic([0x28, 0xb5, 0x2f, 0xfd]) ? 'zstd' : magic([0x5d, 0x00, 0x00]) ? 'lzma' :
    magic([0x02, 0x21, 0x4c, 0x18]) ? 'lz4' : magic([0x42, 0x5a, 0x68]) ? 'bzip2' : magic([0x89, 0x4c, 0x5a, 0x4f]) ? 'lzo' : 'unknown';
  return { data, format };
}
