// virtio-blk behind the real virtio-pci transport, split queue and the core's
// Dmaprot, driven by the test driver as Linux's virtio_pci would: feature
// negotiation and configuration, reads and writes whose data lands in RAM
// and in the image file, a read into a page the guest may not write refused
// with the page untouched, and the malformed-ring campaign (100,000 chains).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FakeMachine } from './support/fake-vcpu.js';
import { VirtioTestDriver, MSI_VECTOR_BASE } from './support/virtio-driver.js';
import { malformedCampaign, type ChainShape } from './support/virtio-campaign.js';
import { Memprot } from '../src/xmhf/memprot.js';
import { Dmaprot, type DmaViolation } from '../src/xmhf/dmaprot.js';
import { Prot } from '../src/hypapp/api.js';
import { openDisk } from '../src/platform/disk/open.js';
import { VirtioBlk, BlkFeature, BlkRequest, BlkStatus, BlkConfig, REQUEST_HEADER_SIZE } from '../src/platform/virtio/blk.js';
import { VIRTIO_F_VERSION_1 } from '../src/platform/virtio/layout.js';
import type { DiskSpec } from '../src/platform/disk/image.js';

const dir = mkdtempSync(join(tmpdir(), 'xmhf-blk-transport-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const SECTOR = 512;
const PAGE = 4096;

async function rig(bytes: Uint8Array, spec: Omit<DiskSpec, 'path'> = {}) {
  const path = join(dir, `disk-${++files}.img`);
  writeFileSync(path, bytes);
  const machine = new FakeMachine(1 << 20);
  const memprot = new Memprot(machine);
  const violations: DmaViolation[] = [];
  const dmaprot = new Dmaprot(machine, memprot, (v) => violations.push(v));
  const blk = new VirtioBlk({ name: 'virtio-blk0', image: await openDisk({ path, ...spec }) });
  const driver = new VirtioTestDriver(blk, machine.ram, dmaprot);
  return { path, machine, memprot, violations, blk, driver };
}

function header(type: number, sector: number): Uint8Array {
  const h = new DataView(new ArrayBuffer(REQUEST_HEADER_SIZE));
  h.setUint32(0, type, true);
  h.setBigUint64(8, BigInt(sector), true);
  return new Uint8Array(h.buffer);
}

test('the driver negotiates virtio-blk\'s features and reads its capacity through the device configuration structure', async () => {
  const { driver } = await rig(new Uint8Array(64 * SECTOR));
  assert.equal(driver.cfgRead(0, 4), 0x10421af4, 'vendor 0x1af4, device 0x1040 + 2 (block)');
  const offered = driver.deviceFeatures();
  for (const f of [VIRTIO_F_VERSION_1, BlkFeature.FLUSH, BlkFeature.SEG_MAX, BlkFeature.SIZE_MAX, BlkFeature.BLK_SIZE]) assert.ok(offered & f);
  driver.start();
  assert.equal(driver.configRead(BlkConfig.CAPACITY, 4), 64);
  assert.equal(driver.configRead(BlkConfig.CAPACITY + 4, 4), 0);
  const ro = await rig(new Uint8Array(SECTOR), { readOnly: true });
  assert.ok(ro.driver.deviceFeatures() & BlkFeature.RO);
});

test('a read lands in the chain\'s buffers and a write in the file; a completion interrupts through the queue\'s vector', async () => {
  const bytes = randomBytes(64 * SECTOR);
  const { driver, machine, path } = await rig(bytes);
  driver.start();
  const q = driver.queues[0];
  // Linux's layout: header, data split over two pages, status.
  const read = driver.post(q, [header(BlkRequest.IN, 2)], [PAGE, SECTOR, 1]);
  driver.kick(q);
  assert.deepEqual(driver.takeUsed(q), [{ id: read.head, len: PAGE + SECTOR + 1 }]);
  assert.deepEqual(machine.ram.subarray(read.out[0], read.out[0] + PAGE), new Uint8Array(bytes.subarray(2 * SECTOR, 2 * SECTOR + PAGE)));
  assert.deepEqual(machine.ram.subarray(read.out[1], read.out[1] + SECTOR), new Uint8Array(bytes.subarray(2 * SECTOR + PAGE, 3 * SECTOR + PAGE)));
  assert.equal(machine.ram[read.out[2]], BlkStatus.OK);
  assert.deepEqual(driver.interrupts, [MSI_VECTOR_BASE + 1], 'the completion interrupted through queue 0\'s MSI-X entry');
  const data = randomBytes(3 * SECTOR);
  const write = driver.post(q, [header(BlkRequest.OUT, 40), data.subarray(0, SECTOR), data.subarray(SECTOR)], [1]);
  const flush = driver.post(q, [header(BlkRequest.FLUSH, 0)], [1]);
  driver.kick(q);
  assert.deepEqual(driver.takeUsed(q), [{ id: write.head, len: 1 }, { id: flush.head, len: 1 }], 'both chains of one kick, in order');
  assert.equal(machine.ram[write.out[0]], BlkStatus.OK);
  assert.deepEqual(readFileSync(path).subarray(40 * SECTOR, 43 * SECTOR), data);
});

test('a read into a page the guest may not write is refused by dmaprot: IOERR, the page untouched, the violation reported', async () => {
  const { driver, machine, memprot, violations } = await rig(randomBytes(64 * SECTOR));
  driver.start();
  const q = driver.queues[0];
  const target = driver.alloc(2 * PAGE, PAGE);
  machine.ram.fill(0x5a, target, target + 2 * PAGE);
  memprot.setprot(target + PAGE, PAGE, Prot.READ);
  // One writable descriptor spanning both pages: the refused half must not be written, nor the allowed one.
  const status = driver.alloc(1, 1);
  const h = driver.alloc(REQUEST_HEADER_SIZE, 8);
  machine.ram.set(header(BlkRequest.IN, 0), h);
  driver.writeDesc(q, 0, h, REQUEST_HEADER_SIZE, 1, 1);
  driver.writeDesc(q, 1, target, 2 * PAGE, 1 | 2, 2);
  driver.writeDesc(q, 2, status, 1, 2, 0);
  driver.pushAvail(q, 0);
  driver.kick(q);
  assert.deepEqual(driver.takeUsed(q), [{ id: 0, len: 0 }]);
  assert.equal(machine.ram[status], BlkStatus.IOERR);
  assert.ok(machine.ram.subarray(target, target + 2 * PAGE).every((b) => b === 0x5a), 'neither page was written');
  assert.deepEqual(violations, [{ device: 'virtio-blk0', gpa: target, length: 2 * PAGE, direction: 'write' }]);
});

/** A random request as Linux would build it, or nearly: random types, sectors past the end, lengths not whole sectors. */
function blkChain(_q: number, random: () => number): ChainShape {
  const below = (n: number) => Math.floor(random() * n);
  const types = [BlkRequest.IN, BlkRequest.OUT, BlkRequest.FLUSH, BlkRequest.GET_ID, BlkRequest.WRITE_ZEROES, below(0x100000000)];
  const type = types[below(types.length)];
  const sector = below(140); // the disk has 128 sectors
  const length = below(8) === 0 ? 1 + below(2000) : SECTOR * below(9);
  const h = header(type, sector);
  switch (type) {
    case BlkRequest.IN: return { readable: [h], writable: length > 0 ? [length, 1] : [1] };
    case BlkRequest.OUT: return { readable: length > 0 ? [h, new Uint8Array(length).fill(type)] : [h], writable: [1] };
    case BlkRequest.GET_ID: return { readable: [h], writable: [20, 1] };
    case BlkRequest.WRITE_ZEROES: {
      const s = new DataView(new ArrayBuffer(16));
      s.setBigUint64(0, BigInt(below(140)), true);
      s.setUint32(8, below(16), true);
      s.setUint32(12, below(4), true);
      return { readable: [h, new Uint8Array(s.buffer)], writable: [1] };
    }
    default: return { readable: [h], writable: [1] };
  }
}

test('malformed-ring campaign: 100,000 chains through virtio-blk, every lie answered as the spec says', async () => {
  const path = join(dir, 'campaign.img');
  writeFileSync(path, new Uint8Array(128 * SECTOR));
  const blk = new VirtioBlk({ name: 'virtio-blk0', image: await openDisk({ path }) });
  const r = malformedCampaign({ device: blk, count: 100_000, seed: 2027, chain: blkChain });
  blk.close();
  assert.deepEqual(r.failures, []);
  assert.ok(r.resets > 30_000, `resets: ${r.resets}`);
  assert.ok(r.returned > 10_000, `returned: ${r.returned}`);
  assert.ok(r.violations > 5_000, `violations: ${r.violations}`);
  process.stdout.write(`# campaign: ${JSON.stringify(r.byKind)}, ${r.resets} resets, ${r.returned} returned, ${r.violations} violations\n`);
});
