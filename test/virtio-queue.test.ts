// The virtio-pci transport and split virtqueue, driven by a test driver that
// plays the guest's virtio_pci over the real transport, queue code and the
// core's Dmaprot on a RAM buffer: negotiation, queues, MSI-X, EVENT_IDX,
// indirect tables, DMA refused by a hypapp's protection, and the
// malformed-ring campaign (10^5 chains through each device).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeMachine } from './support/fake-vcpu.js';
import { VirtioTestDriver, MSI_VECTOR_BASE } from './support/virtio-driver.js';
import { malformedCampaign } from './support/virtio-campaign.js';
import { Memprot } from '../src/xmhf/memprot.js';
import { Dmaprot, type DmaViolation } from '../src/xmhf/dmaprot.js';
import { directDma } from '../src/platform/platform.js';
import { VirtioRng } from '../src/platform/virtio/rng.js';
import { VirtioVsock, VSOCK_HDR_SIZE, VSOCK_HOST_CID, VSOCK_DEFAULT_GUEST_CID } from '../src/platform/virtio/vsock.js';
import {
  CommonCfg, STATUS_DEVICE_NEEDS_RESET, STATUS_FEATURES_OK, VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_NEXT, availUsedEvent,
} from '../src/platform/virtio/layout.js';
import { Prot } from '../src/hypapp/api.js';

const counting = () => { let n = 0; return (b: Uint8Array) => { for (let i = 0; i < b.length; i++) b[i] = (n++ * 7 + 1) & 0xff; }; };

function rig(opts: { protect?: (memprot: Memprot, dmaprot: Dmaprot) => void } = {}) {
  const machine = new FakeMachine(1 << 20);
  const memprot = new Memprot(machine);
  const violations: DmaViolation[] = [];
  const dmaprot = new Dmaprot(machine, memprot, (v) => violations.push(v));
  opts.protect?.(memprot, dmaprot);
  const rng = new VirtioRng('virtio-rng0', counting());
  const driver = new VirtioTestDriver(rng, machine.ram, dmaprot);
  return { machine, memprot, dmaprot, violations, rng, driver };
}

test('the driver finds the structures through the capabilities; features are VERSION_1, INDIRECT_DESC, EVENT_IDX; a subset without VERSION_1 is refused', () => {
  const { driver } = rig();
  assert.equal(driver.cfgRead(0, 4), 0x10441af4, 'vendor 0x1af4, device 0x1040 + 4 (entropy)');
  assert.ok(driver.cfgRead(8, 1) >= 1, 'a modern device has revision 1 or more');
  const offered = driver.deviceFeatures();
  assert.equal(offered, VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC | VIRTIO_RING_F_EVENT_IDX);
  assert.equal(driver.negotiate(VIRTIO_RING_F_INDIRECT_DESC), undefined, 'no VERSION_1: FEATURES_OK does not stick');
  assert.equal(driver.negotiate(VIRTIO_F_VERSION_1 | (1n << 40n)), undefined, 'a feature never offered');
  assert.equal(driver.negotiate(VIRTIO_F_VERSION_1), VIRTIO_F_VERSION_1);
  assert.ok(driver.status() & STATUS_FEATURES_OK);
  assert.equal(driver.commonRead(CommonCfg.NUM_QUEUES, 2), 1);
});

test('virtio-rng fills a chain of two writable buffers and interrupts through its queue\'s MSI-X vector', () => {
  const { driver, machine } = rig();
  driver.start();
  const q = driver.queues[0];
  const { head, out } = driver.post(q, [], [5, 11]);
  driver.kick(q);
  assert.deepEqual(driver.takeUsed(q), [{ id: head, len: 16 }]);
  const expected = Array.from({ length: 16 }, (_, n) => (n * 7 + 1) & 0xff);
  assert.deepEqual([...machine.ram.subarray(out[0], out[0] + 5), ...machine.ram.subarray(out[1], out[1] + 11)], expected);
  assert.deepEqual(driver.interrupts, [MSI_VECTOR_BASE + 1], 'queue 0 uses MSI-X entry 1');
});

test('a masked MSI-X vector is held pending and sent on unmask; a reset returns the device to its initial state', () => {
  const { driver } = rig();
  driver.start();
  const q = driver.queues[0];
  // Mask entry 1 (vector control of the second entry).
  const msixTable = (() => { for (let at = driver.cfgRead(0x34, 1); at; at = driver.cfgRead(at + 1, 1)) if (driver.cfgRead(at, 1) === 0x11) return driver.cfgRead(at + 4, 4) & ~7; return -1; })();
  driver.barWrite(msixTable + 16 + 12, 4, 1);
  driver.post(q, [], [8]);
  driver.kick(q);
  assert.deepEqual(driver.interrupts, [], 'masked: nothing sent');
  driver.barWrite(msixTable + 16 + 12, 4, 0);
  assert.deepEqual(driver.interrupts, [MSI_VECTOR_BASE + 1], 'sent on unmask');
  driver.reset();
  assert.equal(driver.status(), 0);
  driver.commonWrite(CommonCfg.QUEUE_SELECT, 2, 0);
  assert.equal(driver.commonRead(CommonCfg.QUEUE_ENABLE, 2), 0, 'queues are disabled by reset');
  assert.equal(driver.commonRead(CommonCfg.QUEUE_SIZE, 2), 64, 'and back at their maximum size');
});

test('EVENT_IDX: no interrupt until the used index passes used_event; an indirect table is followed', () => {
  const { driver, machine } = rig();
  driver.start();
  const q = driver.queues[0];
  const view = new DataView(machine.ram.buffer);
  view.setUint16(q.avail + availUsedEvent(q.size), 1, true); // interrupt when used idx goes past 1
  driver.post(q, [], [4]);
  driver.kick(q);
  assert.deepEqual(driver.interrupts, [], 'used idx 1 does not pass used_event 1');
  driver.post(q, [], [4]);
  driver.kick(q);
  assert.deepEqual(driver.interrupts, [MSI_VECTOR_BASE + 1]);
  assert.equal(driver.takeUsed(q).length, 2);
  // One descriptor pointing at a table of three writable buffers.
  const table = driver.alloc(48, 16), bufs = [driver.alloc(3), driver.alloc(5), driver.alloc(7)];
  bufs.forEach((b, i) => {
    view.setBigUint64(table + 16 * i, BigInt(b), true);
    view.setUint32(table + 16 * i + 8, [3, 5, 7][i], true);
    view.setUint16(table + 16 * i + 12, VIRTQ_DESC_F_WRITE | (i < 2 ? VIRTQ_DESC_F_NEXT : 0), true);
    view.setUint16(table + 16 * i + 14, i + 1, true);
  });
  driver.writeDesc(q, 9, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
  driver.pushAvail(q, 9);
  driver.kick(q);
  assert.deepEqual(driver.takeUsed(q), [{ id: 9, len: 15 }]);
  assert.notEqual(machine.ram[bufs[2] + 6], 0, 'the last byte of the last indirect buffer was written');
});

test('DMA into a page a hypapp protected is refused: the page is unchanged, the chain comes back empty, the violation is reported', () => {
  const guarded = 0x80000;
  const { driver, machine, violations, rng } = rig({ protect: (_m, d) => d.protect(guarded, 4096) });
  driver.start();
  const q = driver.queues[0];
  machine.ram.fill(0xee, guarded, guarded + 4096);
  driver.writeDesc(q, 0, guarded + 16, 32, VIRTQ_DESC_F_WRITE, 0);
  driver.pushAvail(q, 0);
  driver.kick(q);
  assert.deepEqual(driver.takeUsed(q), [{ id: 0, len: 0 }]);
  assert.ok(machine.ram.subarray(guarded, guarded + 4096).every((b) => b === 0xee), 'the protected page is unchanged');
  assert.deepEqual(violations, [{ device: 'virtio-rng0', gpa: guarded + 16, length: 32, direction: 'write' }]);
  assert.equal(rng.refused, 1);
  assert.equal(driver.status() & STATUS_DEVICE_NEEDS_RESET, 0, 'a refused buffer is an I/O error, not a broken ring');
});

test('a read-only page (setprot) is refused to a device write too', () => {
  const page = 0x90000;
  const { driver, violations } = rig({ protect: (m) => m.setprot(page, 4096, Prot.RO) });
  driver.start();
  const q = driver.queues[0];
  driver.writeDesc(q, 0, page, 8, VIRTQ_DESC_F_WRITE, 0);
  driver.pushAvail(q, 0);
  driver.kick(q);
  assert.deepEqual(driver.takeUsed(q), [{ id: 0, len: 0 }]);
  assert.equal(violations.length, 1);
});

test('a descriptor loop sets DEVICE_NEEDS_RESET, interrupts the config vector and logs the reason once; reset recovers', () => {
  const { driver } = rig();
  driver.start();
  const q = driver.queues[0];
  for (let round = 0; round < 2; round++) {
    driver.writeDesc(q, 0, 0x9000, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    driver.writeDesc(q, 1, 0x9000, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    driver.pushAvail(q, 0);
    driver.kick(q);
    assert.ok(driver.status() & STATUS_DEVICE_NEEDS_RESET);
    assert.equal(driver.interrupts.at(-1), MSI_VECTOR_BASE + 0, 'config changes use entry 0');
    driver.start();
  }
  assert.equal(driver.logs.length, 1, driver.logs.join('\n'));
  assert.match(driver.logs[0], /virtio-rng0: .*loops or is longer than its table/);
  const q2 = driver.queues[0];
  driver.post(q2, [], [4]);
  driver.kick(q2);
  assert.equal(driver.takeUsed(q2).length, 1, 'works again after the reset');
});

test('a doorbell for a queue never set up, or before DRIVER_OK, does nothing', () => {
  const machine = new FakeMachine(1 << 20);
  const driver = new VirtioTestDriver(new VirtioRng(), machine.ram, directDma(machine));
  driver.kick(0);
  driver.kick(7);
  driver.start();
  driver.kick(3);
  assert.equal(driver.status() & STATUS_DEVICE_NEEDS_RESET, 0);
});

test('malformed-ring campaign: 100,000 chains through virtio-rng, every lie answered as the spec says', () => {
  const r = malformedCampaign({ device: new VirtioRng(), count: 100_000, seed: 2026 });
  assert.deepEqual(r.failures, []);
  assert.ok(r.resets > 30_000, `resets: ${r.resets}`);
  assert.ok(r.returned > 10_000, `returned: ${r.returned}`);
  assert.ok(r.violations > 5_000, `violations: ${r.violations}`);
});

test('malformed-ring campaign: 100,000 chains through virtio-vsock (packets of every op on the transmit queue; lies on all three queues)', () => {
  const vsock = new VirtioVsock();
  // A host that accepts every other connection, so packets meet open connections too.
  let n = 0;
  vsock.host = { guestConnect: (_port, _stream, accept) => accept(n++ % 2 ? { data: (_b, done) => done(), end: () => {}, closed: () => {} } : undefined) };
  const packet = (random: () => number) => {
    const hdr = new Uint8Array(VSOCK_HDR_SIZE);
    const v = new DataView(hdr.buffer);
    const len = Math.floor(random() * 48);
    v.setBigUint64(0, BigInt(random() < 0.9 ? VSOCK_DEFAULT_GUEST_CID : Math.floor(random() * 9)), true);
    v.setBigUint64(8, BigInt(random() < 0.9 ? VSOCK_HOST_CID : Math.floor(random() * 9)), true);
    v.setUint32(16, 1000 + Math.floor(random() * 4), true);
    v.setUint32(20, 5000 + Math.floor(random() * 4), true);
    v.setUint32(24, random() < 0.9 ? len : Math.floor(random() * 0x1_0000_0000), true);
    v.setUint16(28, random() < 0.95 ? 1 : 2, true);
    v.setUint16(30, Math.floor(random() * 9), true);
    v.setUint32(32, Math.floor(random() * 4), true);
    v.setUint32(36, Math.floor(random() * 0x40000), true);
    v.setUint32(40, Math.floor(random() * 0x40000), true);
    return [hdr, new Uint8Array(len)];
  };
  const r = malformedCampaign({
    device: vsock, count: 100_000, seed: 19,
    chain: (q, random) => (q === 1 ? { readable: packet(random), writable: [] } : { readable: [], writable: [VSOCK_HDR_SIZE + Math.floor(random() * 64)] }),
    completesAtOnce: (q) => q === 1,
  });
  assert.deepEqual(r.failures, []);
  assert.ok(r.resets > 20_000, `resets: ${r.resets}`);
  assert.ok(r.returned > 5_000, `returned: ${r.returned}`);
});
