// A machine for CPU tests: guest RAM plus a bus that records port writes and
// serves a scripted set of port reads.
import { createSoftwareMachine } from '../../src/backend/software.js';
import type { Machine, PlatformBus, Vcpu } from '../../src/backend/interface.js';
import { allOnes } from '../../src/platform/device.js';

export interface TestBus extends PlatformBus {
  /** Port writes in order: [port, size, value]. */
  outs: Array<[number, number, number]>;
  /** Values port reads return, by port (default 0xffffffff masked to size). */
  inValues: Map<number, number>;
  /** Vector the next interrupt acknowledge returns (-1: none). */
  pendingVector: number;
}

export function testBus(): TestBus {
  const bus: TestBus = {
    outs: [],
    inValues: new Map(),
    pendingVector: -1,
    ioIn(port, size) { return (bus.inValues.get(port) ?? 0xffffffff) & allOnes(size); },
    ioOut(port, size, value) { bus.outs.push([port, size, value]); },
    mmioRead() { return 0xffffffff; },
    mmioWrite() {},
    ackInterrupt() { const v = bus.pendingVector; bus.pendingVector = -1; return v; },
  };
  return bus;
}

export async function testMachine(ramSize = 32 << 20): Promise<{ machine: Machine; vcpu: Vcpu; bus: TestBus }> {
  const bus = testBus();
  const machine = await createSoftwareMachine({ ramSize, bus });
  return { machine, vcpu: machine.vcpus[0], bus };
}

export function view(machine: Machine): DataView {
  return new DataView(machine.ram.buffer, machine.ram.byteOffset, machine.ram.byteLength);
}
