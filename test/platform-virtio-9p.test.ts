// virtio-9p over the real virtio-pci transport and the core's Dmaprot, driven
// by the test driver as Linux's 9pnet_virtio drives it: the mount tag in the
// configuration space, requests and replies through chains (zero-copy reads
// and writes split across a header buffer and pages), replies that do not
// fit, refused DMA, and 100,000 malformed chains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeMachine } from './support/fake-vcpu.js';
import { VirtioTestDriver } from './support/virtio-driver.js';
import { malformedCampaign } from './support/virtio-campaign.js';
import { P9Client } from './support/p9-client.js';
import { Memprot } from '../src/xmhf/memprot.js';
import { Dmaprot, type DmaViolation } from '../src/xmhf/dmaprot.js';
import { Virtio9p } from '../src/platform/virtio/9p.js';
import { Msg, NOFID, OpenFlag, Writer, Reader, readHeader, HEADER_SIZE } from '../src/platform/p9/protocol.js';
import { Errno } from '../src/platform/p9/errno.js';
import { PAGE_SIZE } from '../src/hypapp/api.js';

function rig(tag = 'samples', readOnly = false) {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-virtio-9p-'));
  const share = join(dir, 'share');
  mkdirSync(share);
  const machine = new FakeMachine(16 << 20);
  const memprot = new Memprot(machine);
  const violations: DmaViolation[] = [];
  const dmaprot = new Dmaprot(machine, memprot, (v) => violations.push(v));
  const device = new Virtio9p({ hostDir: share, tag, readOnly });
  const driver = new VirtioTestDriver(device, machine.ram, dmaprot);
  const done = () => { device.close(); rmSync(dir, { recursive: true, force: true }); };
  return { dir, share, machine, dmaprot, violations, device, driver, done };
}

/** Post one request with a single writable buffer of `room` bytes; the reply's bytes. */
function exchange(driver: VirtioTestDriver, ram: Uint8Array, request: Uint8Array, room = 64 * 1024): Uint8Array {
  const q = driver.queues[0];
  const { head, out } = driver.post(q, [request], [room]);
  driver.kick(q);
  const used = driver.takeUsed(q);
  assert.deepEqual(used.map((u) => u.id), [head]);
  return ram.slice(out[0], out[0] + used[0].len);
}

test('the device is virtio 9P (PCI 1af4:1049) with VIRTIO_9P_MOUNT_TAG, and its configuration space holds the tag', () => {
  const { driver, done } = rig('my.tag-1');
  try {
    assert.equal(driver.cfgRead(0, 4), 0x10491af4);
    assert.equal(driver.deviceFeatures() & 1n, 1n);
    assert.equal(driver.configRead(0, 2), 8);
    const tag = Array.from({ length: 8 }, (_, i) => driver.configRead(2 + i, 1));
    assert.equal(String.fromCharCode(...tag), 'my.tag-1');
    assert.equal(driver.configRead(2, 4), 0x742e796d, 'a 4-byte read of "my.t", little-endian');
  } finally { done(); }
});

test('a 9P session over the queue: version, attach, walk, read and write a host file', () => {
  const { driver, machine, share, done } = rig();
  try {
    driver.start();
    const data = randomBytes(20_000);
    writeFileSync(join(share, 'f'), data);
    const c = new P9Client((req) => exchange(driver, machine.ram, req));
    const root = c.mount();
    const f = c.open(root, 'f', OpenFlag.RDWR);
    assert.deepEqual(Buffer.from(c.readAll(f)), data);
    c.write(f, 0n, Buffer.from('over the queue'));
    assert.equal(readFileSync(join(share, 'f')).subarray(0, 14).toString(), 'over the queue');
  } finally { done(); }
});

test('zero-copy shapes: a read\'s reply scatters over an 11-byte header buffer and pages; a write gathers a 23-byte header and pages', () => {
  const { driver, machine, share, done } = rig();
  try {
    driver.start();
    const data = randomBytes(3 * PAGE_SIZE);
    writeFileSync(join(share, 'f'), data);
    const c = new P9Client((req) => exchange(driver, machine.ram, req));
    const root = c.mount();
    const f = c.open(root, 'f', OpenFlag.RDWR);
    const q = driver.queues[0];
    // Tread of 3 pages: the header buffer, then three pages (as p9_virtio_zc_request lays them out).
    const tread = new Writer(new Uint8Array(64), Msg.Tread, 9).u32(f).u64(0n).u32(3 * PAGE_SIZE).finish().slice();
    const { head, out } = driver.post(q, [tread], [11, PAGE_SIZE, PAGE_SIZE, PAGE_SIZE]);
    driver.kick(q);
    assert.deepEqual(driver.takeUsed(q), [{ id: head, len: 11 + 3 * PAGE_SIZE }]);
    const hdr = new Reader(machine.ram.subarray(out[0], out[0] + 11));
    assert.deepEqual([hdr.u32(), hdr.u8(), hdr.u16(), hdr.u32()], [11 + 3 * PAGE_SIZE, Msg.Rread, 9, 3 * PAGE_SIZE]);
    assert.deepEqual(Buffer.concat(out.slice(1).map((gpa) => machine.ram.subarray(gpa, gpa + PAGE_SIZE))), data);
    // Twrite: the fixed part in one buffer, the data in two more.
    const payload = randomBytes(2 * PAGE_SIZE);
    const twrite = new Writer(new Uint8Array(64), Msg.Twrite, 10).u32(f).u64(100n).u32(payload.length).finish().slice();
    new DataView(twrite.buffer).setUint32(0, twrite.length + payload.length, true);
    const w = driver.post(q, [twrite, payload.subarray(0, PAGE_SIZE), payload.subarray(PAGE_SIZE)], [11]);
    driver.kick(q);
    assert.deepEqual(driver.takeUsed(q), [{ id: w.head, len: 11 }]);
    assert.equal(new Reader(machine.ram.subarray(w.out[0] + 7, w.out[0] + 11)).u32(), payload.length);
    assert.deepEqual(readFileSync(join(share, 'f')).subarray(100, 100 + payload.length), payload);
  } finally { done(); }
});

test('a reply that does not fit is Rlerror EMSGSIZE (or nothing, below Rlerror\'s 11 bytes); a lying size field is Rlerror', () => {
  const { driver, machine, done } = rig();
  try {
    driver.start();
    const c = new P9Client((req) => exchange(driver, machine.ram, req));
    const root = c.mount();
    const getattr = new Writer(new Uint8Array(64), Msg.Tgetattr, 3).u32(root).u64(0x7ffn).finish().slice();
    const errnoOf = (reply: Uint8Array) => { assert.equal(readHeader(reply).type, Msg.Rlerror); return new Reader(reply, HEADER_SIZE).u32(); };
    assert.equal(errnoOf(exchange(driver, machine.ram, getattr, 40)), Errno.EMSGSIZE);
    assert.equal(exchange(driver, machine.ram, getattr, 8).length, 0);
    const lying = getattr.slice();
    new DataView(lying.buffer).setUint32(0, 5000, true);
    assert.equal(errnoOf(exchange(driver, machine.ram, lying)), Errno.EINVAL);
    new DataView(lying.buffer).setUint32(0, 0xffffffff, true);
    assert.equal(errnoOf(exchange(driver, machine.ram, lying)), Errno.EMSGSIZE);
    // The session goes on.
    assert.equal(c.getattr(root).qid.type, 0x80);
  } finally { done(); }
});

test('a reply buffer dmaprot forbids is left unchanged and the chain returns with nothing written', () => {
  const { driver, machine, dmaprot, violations, share, done } = rig();
  try {
    driver.start();
    writeFileSync(join(share, 'f'), 'secret data');
    const c = new P9Client((req) => exchange(driver, machine.ram, req));
    const root = c.mount();
    const f = c.open(root, 'f', 0);
    const q = driver.queues[0];
    const tread = new Writer(new Uint8Array(64), Msg.Tread, 4).u32(f).u64(0n).u32(100).finish().slice();
    driver.alloc(PAGE_SIZE - 24, PAGE_SIZE); // the 23-byte request at the end of one page, the reply buffer from the next
    const { head, out } = driver.post(q, [tread], [PAGE_SIZE]);
    const page = out[0] - (out[0] % PAGE_SIZE);
    assert.equal(page, out[0]);
    machine.ram.fill(0xaa, out[0], out[0] + 64);
    dmaprot.protect(page, PAGE_SIZE);
    driver.kick(q);
    assert.deepEqual(driver.takeUsed(q), [{ id: head, len: 0 }]);
    assert.ok(machine.ram.subarray(out[0], out[0] + 64).every((b) => b === 0xaa), 'the forbidden buffer is untouched');
    assert.ok(violations.some((v) => v.direction === 'write' && v.gpa <= out[0] + 63 && v.gpa + v.length > out[0]), JSON.stringify(violations));
    assert.equal(driver.device.name, 'virtio-9p:samples');
  } finally { done(); }
});

test('100,000 malformed chains carrying 9P requests: no host exception, nothing outside RAM, nothing outside the share', () => {
  const base = mkdtempSync(join(tmpdir(), 'xmhf-virtio-9p-campaign-'));
  const share = join(base, 'share'), outside = join(base, 'outside');
  mkdirSync(share); mkdirSync(outside);
  writeFileSync(join(share, 'a'), randomBytes(5000));
  mkdirSync(join(share, 'd'));
  symlinkSync('../outside', join(share, 'up'));
  writeFileSync(join(outside, 'secret'), 'host secret');
  const outsideBefore = JSON.stringify(readdirSync(outside).map((n) => [n, statSync(join(outside, n)).mtimeMs, readFileSync(join(outside, n), 'utf8')]));
  const device = new Virtio9p({ hostDir: share, tag: 's' });
  const names = ['a', 'd', 'up', '..', 'missing', 'secret', 'new'];
  try {
    const r = malformedCampaign({
      device, count: 100_000, seed: 99,
      chain: (_q, random) => {
        const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
        const fid = Math.floor(random() * 6), tag = Math.floor(random() * 0x10000);
        const w = new Writer(new Uint8Array(512), 0, 0);
        const msg = (type: number) => new Writer(new Uint8Array(512), type, tag);
        const requests = [
          () => msg(Msg.Tversion).u32(pick([4096, 8192, 65536, 0xffffffff, 0])).str(pick(['9P2000.L', '9P2000', ''])),
          () => msg(Msg.Tattach).u32(fid).u32(NOFID).str('root').str('').u32(0),
          () => { const m = msg(Msg.Twalk).u32(fid).u32(Math.floor(random() * 6)); const n = Math.floor(random() * 4); m.u16(n); for (let i = 0; i < n; i++) m.str(pick(names)); return m; },
          () => msg(Msg.Tlopen).u32(fid).u32(pick([0, OpenFlag.RDWR, OpenFlag.TRUNC | OpenFlag.WRONLY])),
          () => msg(Msg.Tread).u32(fid).u64(BigInt(Math.floor(random() * 10000))).u32(pick([0, 100, 0xffffffff])),
          () => msg(Msg.Treaddir).u32(fid).u64(BigInt(Math.floor(random() * 5))).u32(pick([0, 30, 4000, 0xffffffff])),
          () => msg(Msg.Tgetattr).u32(fid).u64(0x7ffn),
          () => msg(Msg.Tlcreate).u32(fid).str(pick(names)).u32(OpenFlag.WRONLY).u32(0o644).u32(0),
          () => msg(Msg.Tclunk).u32(fid),
          () => msg(Msg.Tsetattr).u32(fid).u32(0x8).u32(0).u32(0).u32(0).u64(BigInt(Math.floor(random() * 100))).u64(0n).u64(0n).u64(0n).u64(0n),
          () => msg(Math.floor(random() * 256)).u32(fid),
        ];
        const m = random() < 0.05 ? w : pick(requests)();
        const bytes = m.finish().slice();
        // Now and then a lying size field or a cut-off message.
        if (random() < 0.05) new DataView(bytes.buffer).setUint32(0, Math.floor(random() * 0x100000000), true);
        const readable = random() < 0.05 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
        return { readable: readable.length ? [readable] : [], writable: [pick([0, 5, 11, 64, 4096])] };
      },
    });
    assert.deepEqual(r.failures, []);
    assert.ok(r.returned > 10_000 && r.resets > 30_000, `returned ${r.returned}, resets ${r.resets}`);
    assert.ok(device.served > 1000, `served ${device.served}`);
  } finally {
    device.close();
    const outsideAfter = JSON.stringify(readdirSync(outside).map((n) => [n, statSync(join(outside, n)).mtimeMs, readFileSync(join(outside, n), 'utf8')]));
    rmSync(base, { recursive: true, force: true });
    assert.equal(outsideAfter, outsideBefore, 'nothing outside the share changed');
  }
});
