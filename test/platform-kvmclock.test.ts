// kvmclock as a guest kernel reads it: the KVM signature and features in
// CPUID, a pvclock_vcpu_time_info whose scale turns TSC deltas into
// nanoseconds (and so gives the exact TSC frequency), a wall clock at boot,
// and nothing written outside guest RAM whatever address the guest gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvmClock, KVM_CPUID, pvclockScale, MSR_KVM_SYSTEM_TIME_NEW, MSR_KVM_WALL_CLOCK_NEW } from '../src/platform/kvmclock.js';

/** What Linux's pvclock_scale_delta computes. */
function scaleDelta(delta: bigint, mul: number, shift: number): bigint {
  const d = shift >= 0 ? delta << BigInt(shift) : delta >> BigInt(-shift);
  return (d * BigInt(mul)) >> 32n;
}
/** What Linux's pvclock_tsc_khz computes. */
function tscKhz(mul: number, shift: number): bigint {
  const khz = (1_000_000n << 32n) / BigInt(mul);
  return shift < 0 ? khz << BigInt(-shift) : khz >> BigInt(shift);
}

function setup(ramSize = 0x10000) {
  const ram = new Uint8Array(ramSize);
  const written: Array<[number, number]> = [];
  const inRam = (gpa: number, length: number) => gpa >= 0 && gpa + length <= ram.length;
  const clock = new KvmClock({
    dma: {
      read: (_device, gpa, length) => (inRam(gpa, length) ? ram.slice(gpa, gpa + length) : undefined),
      write: (_device, gpa, bytes) => {
        if (!inRam(gpa, bytes.length)) return false;
        ram.set(bytes, gpa);
        written.push([gpa, bytes.length]);
        return true;
      },
    },
    tscHz: 1e9,
    now: () => ({ ns: 2_000_000_000n, tsc: 2_000_000_123n }),
    wallClockNs: () => 1_700_000_005_250_000_000n,
  });
  return { ram, view: new DataView(ram.buffer), written, clock };
}

test('CPUID says "KVMKVMKVM" with the new clock MSRs and the stable-TSC bit', () => {
  const sig = KVM_CPUID[0]!;
  const text = [sig.ebx, sig.ecx, sig.edx].map((r) => String.fromCharCode(r & 0xff, (r >> 8) & 0xff, (r >> 16) & 0xff, r >>> 24)).join('');
  assert.equal(text, 'KVMKVMKVM\0\0\0');
  assert.equal(KVM_CPUID[1]!.eax, (1 << 3) | (1 << 24));
});

test('the pvclock scale is exact for a 1 GHz TSC and close for other rates; the kernel reads back the frequency', () => {
  assert.deepEqual(pvclockScale(1e9), { mul: 2 ** 31, shift: 1 });
  assert.equal(tscKhz(2 ** 31, 1), 1_000_000n);
  for (const hz of [2.5e9, 3.3e9, 800e6, 25e6]) {
    const { mul, shift } = pvclockScale(hz);
    assert.ok(mul >= 2 ** 31 && mul < 2 ** 32, `${hz}: mul in range`);
    const ns = scaleDelta(BigInt(hz), mul, shift); // one second of TSC ticks
    assert.ok(ns > 999_999_990n && ns <= 1_000_000_000n, `${hz}: one second scales to ${ns} ns`);
    assert.ok(Math.abs(Number(tscKhz(mul, shift)) - hz / 1000) <= 1, `${hz}: khz`);
  }
});

test('registering the system time writes pvclock_vcpu_time_info at the address, with an even version', () => {
  const { view, written, clock } = setup();
  view.setUint32(0x1000, 6, true); // a previous version
  assert.equal(clock.writeMsr(MSR_KVM_SYSTEM_TIME_NEW, 0x1001n), true);
  assert.equal(view.getUint32(0x1000, true), 8);
  assert.equal(view.getBigUint64(0x1008, true), 2_000_000_123n, 'tsc_timestamp');
  assert.equal(view.getBigUint64(0x1010, true), 2_000_000_000n, 'system_time');
  assert.equal(view.getUint32(0x1018, true), 2 ** 31, 'tsc_to_system_mul');
  assert.equal(view.getInt8(0x101c), 1, 'tsc_shift');
  assert.equal(view.getUint8(0x101d), 1, 'PVCLOCK_TSC_STABLE_BIT');
  assert.deepEqual(written, [[0x1000, 32]]);
  assert.equal(clock.readMsr(MSR_KVM_SYSTEM_TIME_NEW), 0x1001n);
  clock.writeMsr(MSR_KVM_SYSTEM_TIME_NEW, 0x2000n); // enable bit clear: nothing written
  assert.deepEqual(written, [[0x1000, 32]]);
});

test('the wall clock is the host time at guest time 0', () => {
  const { view, clock } = setup();
  clock.writeMsr(MSR_KVM_WALL_CLOCK_NEW, 0x3000n);
  assert.equal(view.getUint32(0x3004, true), 1_700_000_003, 'seconds (boot was 2 s ago)');
  assert.equal(view.getUint32(0x3008, true), 250_000_000, 'nanoseconds');
  assert.equal(view.getUint32(0x3000, true) % 2, 0);
});

test('addresses at or across the end of guest RAM, or absurd ones, are ignored; other MSRs are not kvmclock\'s', () => {
  const { ram, written, clock } = setup(0x2000);
  const before = ram.slice();
  for (const gpa of [0x1ff8n, 0x2000n, 0xffff_ffff_fff0n, 0xffff_ffff_ffff_ffffn]) {
    clock.writeMsr(MSR_KVM_SYSTEM_TIME_NEW, gpa | 1n);
    clock.writeMsr(MSR_KVM_WALL_CLOCK_NEW, gpa);
  }
  assert.deepEqual(written, []);
  assert.deepEqual(ram, before);
  assert.equal(clock.readMsr(0x10), undefined);
  assert.equal(clock.writeMsr(0x10, 1n), false);
});
