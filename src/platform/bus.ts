// The PC's device buses: which device decodes each port and each MMIO range.
// Registration refuses a range that overlaps one already taken, naming both
// devices (as Firecracker's bus does): two devices answering one address is a
// wiring mistake that would otherwise show up as one silently shadowing the
// other. Unclaimed addresses read as the open bus (all ones).
import { allOnes, type MmioDevice, type PortDevice } from './device.js';

const PORTS = 0x10000;

/** A device range that overlaps one already registered. */
export class BusConflictError extends Error {}

export class DeviceBus {
  private readonly portMap: Array<PortDevice | undefined> = new Array(PORTS);
  /** MMIO devices, sorted by base. */
  private readonly mmio: MmioDevice[] = [];

  /** Decode every port range of `device`. */
  addPortDevice(device: PortDevice): void {
    for (const [first, last] of device.ports) {
      if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0 || last >= PORTS || last < first) {
        throw new RangeError(`${device.name}: port range ${hex(first)}-${hex(last)} is not within 0-0xffff`);
      }
      for (let p = first; p <= last; p++) {
        const other = this.portMap[p];
        if (other) throw new BusConflictError(`${device.name}: ports ${hex(first)}-${hex(last)} overlap ${other.name} at port ${hex(p)}`);
      }
    }
    for (const [first, last] of device.ports) for (let p = first; p <= last; p++) this.portMap[p] = device;
  }

  /** Decode [device.base, device.base + device.size). */
  addMmioDevice(device: MmioDevice): void {
    const { base, size } = device;
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(size) || base < 0 || size <= 0) {
      throw new RangeError(`${device.name}: MMIO range ${hex(base)} +${size} is not a range of addresses`);
    }
    const other = this.mmio.find((d) => base < d.base + d.size && d.base < base + size);
    if (other) {
      throw new BusConflictError(`${device.name}: MMIO ${hex(base)}-${hex(base + size - 1)} overlaps ${other.name} at ${hex(other.base)}-${hex(other.base + other.size - 1)}`);
    }
    this.mmio.push(device);
    this.mmio.sort((a, b) => a.base - b.base);
  }

  portDevice(port: number): PortDevice | undefined { return this.portMap[port]; }

  mmioDevice(gpa: number): MmioDevice | undefined {
    for (const d of this.mmio) {
      if (gpa < d.base) return undefined;
      if (gpa < d.base + d.size) return d;
    }
    return undefined;
  }

  ioRead(port: number, size: number): number {
    return this.portMap[port]?.ioRead(port, size) ?? allOnes(size);
  }

  ioWrite(port: number, size: number, value: number): void {
    this.portMap[port]?.ioWrite(port, size, value);
  }

  mmioRead(gpa: number, size: number, vcpu: number): number {
    const d = this.mmioDevice(gpa);
    return d ? d.mmioRead(gpa - d.base, size, vcpu) : allOnes(size);
  }

  mmioWrite(gpa: number, size: number, value: number, vcpu: number): void {
    const d = this.mmioDevice(gpa);
    d?.mmioWrite(gpa - d.base, size, value, vcpu);
  }
}

const hex = (n: number) => `0x${n.toString(16)}`;
