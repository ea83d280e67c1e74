// virtio-blk's request handling over real image files, through an in-test
// descriptor chain: reads and writes at sectors, FLUSH, GET_ID, WRITE_ZEROES,
// the answers to requests past the end, misaligned, of unknown types or on a
// read-only disk, and buffers dmaprot refuses (IOERR, nothing touched).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDisk } from '../src/platform/disk/open.js';
import type { DiskSpec } from '../src/platform/disk/image.js';
import { VirtioBlk, BlkFeature, BlkRequest, BlkStatus, BlkConfig, REQUEST_HEADER_SIZE, VIRTIO_ID_BLOCK } from '../src/platform/virtio/blk.js';
import { TestChain, testQueues, type Refusals } from './support/test-chain.js';

const dir = mkdtempSync(join(tmpdir(), 'xmhf-blk-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const SECTOR = 512;

/** A device on a new image file of `bytes`, activated, and a way to send it one request. */
async function blkOn(bytes: Uint8Array, opts: Omit<DiskSpec, 'path'> = {}) {
  const path = join(dir, `disk-${++files}.img`);
  writeFileSync(path, bytes);
  const image = await openDisk({ path, ...opts });
  const blk = new VirtioBlk({ name: 'virtio-blk0', image });
  const chains: TestChain[] = [];
  const queues = testQueues(chains);
  blk.activate(queues, blk.features);
  /** Send a request (header, then `out` data) with `inLength` writable bytes before the status byte. */
  const request = (type: number, sector: bigint, o: { out?: Uint8Array; inLength?: number; refuse?: Refusals; writable?: number } = {}) => {
    const readable = new Uint8Array(REQUEST_HEADER_SIZE + (o.out?.length ?? 0));
    const h = new DataView(readable.buffer);
    h.setUint32(0, type, true);
    h.setBigUint64(8, sector, true);
    if (o.out) readable.set(o.out, REQUEST_HEADER_SIZE);
    const chain = new TestChain(readable, o.writable ?? (o.inLength ?? 0) + 1, o.refuse);
    chains.push(chain);
    blk.notify(0);
    assert.equal(chains.length, 0, 'the device took the chain');
    assert.notEqual(chain.used, undefined, 'the device returned the chain');
    return chain;
  };
  return { path, blk, image, request, queues, file: () => new Uint8Array(readFileSync(path)) };
}

test('the device is a block device whose configuration gives the capacity, block size, segment limits and features', async () => {
  const { blk } = await blkOn(new Uint8Array(1 << 20));
  assert.equal(blk.deviceType, VIRTIO_ID_BLOCK);
  assert.equal(blk.configRead(BlkConfig.CAPACITY, 4) + blk.configRead(BlkConfig.CAPACITY + 4, 4) * 2 ** 32, 2048);
  assert.equal(blk.configRead(BlkConfig.BLK_SIZE, 4), 512);
  assert.equal(blk.configRead(BlkConfig.SEG_MAX, 4), 254);
  assert.equal(blk.configRead(BlkConfig.SIZE_MAX, 4), 1 << 20);
  assert.equal(blk.configRead(BlkConfig.SEG_MAX, 1), 254, 'a byte of a field');
  for (const f of [BlkFeature.SIZE_MAX, BlkFeature.SEG_MAX, BlkFeature.BLK_SIZE, BlkFeature.FLUSH, BlkFeature.WRITE_ZEROES]) {
    assert.ok(blk.features & f, `offers feature ${f}`);
  }
  assert.equal(blk.features & BlkFeature.RO, 0n);
  blk.configWrite();
  assert.equal(blk.configRead(BlkConfig.CAPACITY, 4), 2048, 'the configuration is read-only');
  const ro = await blkOn(new Uint8Array(4096), { readOnly: true });
  assert.ok(ro.blk.features & BlkFeature.RO, 'ro offers VIRTIO_BLK_F_RO');
  assert.equal(ro.blk.features & BlkFeature.WRITE_ZEROES, 0n);
  const snap = await blkOn(new Uint8Array(4096), { snapshot: true });
  assert.equal(snap.blk.features & BlkFeature.RO, 0n, 'a snapshot disk is writable');
});

test('IN reads sectors into the writable part; OUT writes the file at the sector; the used length counts what was written', async () => {
  const bytes = randomBytes(64 * SECTOR);
  const d = await blkOn(bytes);
  const read = d.request(BlkRequest.IN, 3n, { inLength: 5 * SECTOR });
  assert.equal(read.status, BlkStatus.OK);
  assert.deepEqual(read.writable.subarray(0, 5 * SECTOR), new Uint8Array(bytes.subarray(3 * SECTOR, 8 * SECTOR)));
  assert.equal(read.used, 5 * SECTOR + 1);
  const data = randomBytes(2 * SECTOR);
  const write = d.request(BlkRequest.OUT, 10n, { out: data });
  assert.equal(write.status, BlkStatus.OK);
  assert.equal(write.used, 1);
  assert.deepEqual(d.file().subarray(10 * SECTOR, 12 * SECTOR), new Uint8Array(data));
  assert.deepEqual(d.file().subarray(12 * SECTOR), new Uint8Array(bytes.subarray(12 * SECTOR)), 'nothing else changed');
  assert.equal(d.request(BlkRequest.FLUSH, 0n).status, BlkStatus.OK);
  const last = d.request(BlkRequest.IN, 63n, { inLength: SECTOR });
  assert.equal(last.status, BlkStatus.OK, 'the last sector is readable');
});

test('a request larger than the device\'s copy buffer moves all of its data', async () => {
  const bytes = randomBytes(10 << 20);
  const d = await blkOn(bytes);
  const read = d.request(BlkRequest.IN, 1n, { inLength: (9 << 20) + SECTOR });
  assert.equal(read.status, BlkStatus.OK);
  assert.ok(Buffer.from(read.writable.subarray(0, (9 << 20) + SECTOR)).equals(bytes.subarray(SECTOR, (9 << 20) + 2 * SECTOR)));
  const data = randomBytes(9 << 20);
  assert.equal(d.request(BlkRequest.OUT, 7n, { out: data }).status, BlkStatus.OK);
  assert.ok(Buffer.from(d.file().subarray(7 * SECTOR, 7 * SECTOR + data.length)).equals(data));
});

test('requests past the end or not whole sectors answer IOERR and change nothing', async () => {
  const bytes = randomBytes(16 * SECTOR);
  const d = await blkOn(bytes);
  const cases: Array<[string, TestChain]> = [
    ['a read at the capacity', d.request(BlkRequest.IN, 16n, { inLength: SECTOR })],
    ['a read that runs past the end', d.request(BlkRequest.IN, 15n, { inLength: 2 * SECTOR })],
    ['a read at sector 2^64-1', d.request(BlkRequest.IN, 2n ** 64n - 1n, { inLength: SECTOR })],
    ['a read of part of a sector', d.request(BlkRequest.IN, 0n, { inLength: 100 })],
    ['a write past the end', d.request(BlkRequest.OUT, 16n, { out: new Uint8Array(SECTOR) })],
    ['a write at 2^55', d.request(BlkRequest.OUT, 2n ** 55n, { out: new Uint8Array(SECTOR) })],
    ['a write of part of a sector', d.request(BlkRequest.OUT, 0n, { out: new Uint8Array(511).fill(1) })],
  ];
  for (const [what, chain] of cases) {
    assert.equal(chain.status, BlkStatus.IOERR, what);
    assert.ok(chain.writable.subarray(0, -1).every((b) => b === 0), `${what}: no data written`);
  }
  assert.deepEqual(d.file(), new Uint8Array(bytes));
});

test('request types the device does not implement answer UNSUPP', async () => {
  const d = await blkOn(new Uint8Array(8 * SECTOR));
  for (const type of [2, BlkRequest.GET_LIFETIME, BlkRequest.DISCARD, BlkRequest.SECURE_ERASE, 0x80000000, 0xffffffff]) {
    assert.equal(d.request(type, 0n, { inLength: 16 }).status, BlkStatus.UNSUPP, `type ${type}`);
  }
});

test('GET_ID answers a 20-byte serial made from the image\'s identity: the same file, the same serial', async () => {
  const a = await blkOn(new Uint8Array(4096), { readOnly: true });
  const id = a.request(BlkRequest.GET_ID, 0n, { inLength: 20 });
  assert.equal(id.status, BlkStatus.OK);
  assert.equal(id.used, 21);
  const serial = Buffer.from(id.writable.subarray(0, 20)).toString('latin1');
  assert.match(serial, /^xmhf[0-9a-f]{16}$/);
  assert.equal(serial, a.blk.serial);
  const again = new VirtioBlk({ name: 'again', image: await openDisk({ path: a.path, readOnly: true }) });
  assert.equal(again.serial, serial, 'the same file gives the same serial');
  const b = await blkOn(new Uint8Array(4096));
  assert.notEqual(b.blk.serial, serial, 'another file, another serial');
  const short = a.request(BlkRequest.GET_ID, 0n, { inLength: 8 });
  assert.equal(Buffer.from(short.writable.subarray(0, 8)).toString('latin1'), serial.slice(0, 8), 'a shorter buffer gets the start');
});

test('ro: writes and write-zeroes answer IOERR and the file is unchanged; reads and FLUSH work', async () => {
  const bytes = randomBytes(8 * SECTOR);
  const d = await blkOn(bytes, { readOnly: true });
  assert.equal(d.request(BlkRequest.OUT, 0n, { out: new Uint8Array(SECTOR).fill(9) }).status, BlkStatus.IOERR);
  assert.equal(d.request(BlkRequest.WRITE_ZEROES, 0n, { out: zeroesSegment(0n, 8, 0) }).status, BlkStatus.IOERR);
  assert.equal(d.request(BlkRequest.FLUSH, 0n).status, BlkStatus.OK);
  assert.equal(d.request(BlkRequest.IN, 1n, { inLength: SECTOR }).status, BlkStatus.OK);
  assert.deepEqual(d.file(), new Uint8Array(bytes));
});

test('snapshot: the guest reads back what it wrote, and the file is unchanged', async () => {
  const bytes = randomBytes(8 * SECTOR);
  const d = await blkOn(bytes, { snapshot: true });
  const data = randomBytes(3 * SECTOR);
  assert.equal(d.request(BlkRequest.OUT, 2n, { out: data }).status, BlkStatus.OK);
  assert.equal(d.request(BlkRequest.FLUSH, 0n).status, BlkStatus.OK);
  const back = d.request(BlkRequest.IN, 1n, { inLength: 5 * SECTOR });
  assert.deepEqual(back.writable.subarray(0, 5 * SECTOR), new Uint8Array([...bytes.subarray(SECTOR, 2 * SECTOR), ...data, ...bytes.subarray(5 * SECTOR, 6 * SECTOR)]));
  d.image.close();
  assert.deepEqual(d.file(), new Uint8Array(bytes));
});

/** One struct virtio_blk_discard_write_zeroes. */
function zeroesSegment(sector: bigint, sectors: number, flags: number): Uint8Array {
  const s = new DataView(new ArrayBuffer(16));
  s.setBigUint64(0, sector, true);
  s.setUint32(8, sectors, true);
  s.setUint32(12, flags, true);
  return new Uint8Array(s.buffer);
}

test('WRITE_ZEROES zeroes the range (with or without unmap); other flags answer UNSUPP, ranges past the end IOERR', async () => {
  const bytes = randomBytes(32 * SECTOR);
  const d = await blkOn(bytes);
  assert.equal(d.request(BlkRequest.WRITE_ZEROES, 0n, { out: zeroesSegment(4n, 3, 0) }).status, BlkStatus.OK);
  assert.equal(d.request(BlkRequest.WRITE_ZEROES, 0n, { out: zeroesSegment(20n, 1, 1) }).status, BlkStatus.OK);
  const expect = new Uint8Array(bytes);
  expect.fill(0, 4 * SECTOR, 7 * SECTOR);
  expect.fill(0, 20 * SECTOR, 21 * SECTOR);
  assert.deepEqual(d.file(), expect);
  assert.equal(d.request(BlkRequest.WRITE_ZEROES, 0n, { out: zeroesSegment(0n, 1, 2) }).status, BlkStatus.UNSUPP);
  assert.equal(d.request(BlkRequest.WRITE_ZEROES, 0n, { out: zeroesSegment(31n, 2, 0) }).status, BlkStatus.IOERR);
  assert.equal(d.request(BlkRequest.WRITE_ZEROES, 0n, { out: new Uint8Array([...zeroesSegment(0n, 1, 0), ...zeroesSegment(1n, 1, 0)]) }).status,
    BlkStatus.IOERR, 'more segments than max_write_zeroes_seg');
  assert.equal(d.request(BlkRequest.WRITE_ZEROES, 0n, { out: new Uint8Array(10) }).status, BlkStatus.IOERR, 'not whole segments');
  assert.deepEqual(d.file(), expect);
});

test('a read into memory dmaprot refuses answers IOERR and leaves the whole buffer untouched; a refused write changes nothing', async () => {
  const bytes = randomBytes(4096 * SECTOR);
  const d = await blkOn(bytes);
  // A 1 MiB read (Linux's requests are at most 1280 KiB by default) with one refused page in the middle.
  const read = d.request(BlkRequest.IN, 0n, { inLength: 1 << 20, refuse: { write: [[0x80000, 0x81000]] } });
  assert.equal(read.status, BlkStatus.IOERR);
  assert.ok(read.writable.subarray(0, 1 << 20).every((b) => b === 0), 'nothing of the buffer was written');
  assert.equal(read.used, 0);
  const write = d.request(BlkRequest.OUT, 8n, { out: new Uint8Array(8 * SECTOR).fill(0xee), refuse: { read: [[REQUEST_HEADER_SIZE + 2048, REQUEST_HEADER_SIZE + 2049]] } });
  assert.equal(write.status, BlkStatus.IOERR);
  assert.deepEqual(d.file(), new Uint8Array(bytes), 'the disk is unchanged');
  const header = d.request(BlkRequest.IN, 0n, { inLength: SECTOR, refuse: { read: [[0, 1]] } });
  assert.equal(header.status, BlkStatus.IOERR, 'a header the device cannot read');
  const status = d.request(BlkRequest.IN, 0n, { inLength: SECTOR, refuse: { write: [[SECTOR, SECTOR + 1]] } });
  assert.equal(status.used, SECTOR, 'the data was written, the status could not be');
});

test('chains without a header or without room for a status go back with nothing written', async () => {
  const d = await blkOn(new Uint8Array(8 * SECTOR));
  const noStatus = d.request(BlkRequest.IN, 0n, { writable: 0 });
  assert.equal(noStatus.used, 0);
  const chains = [new TestChain(new Uint8Array(8), 1)];
  const blk = new VirtioBlk({ name: 'b', image: d.image });
  blk.activate(testQueues(chains as TestChain[]), blk.features);
  const c = chains[0];
  blk.notify(0);
  assert.equal(c.status, BlkStatus.IOERR, 'a header shorter than 16 bytes');
  blk.notify(1);
  blk.reset();
  blk.notify(0);
});
