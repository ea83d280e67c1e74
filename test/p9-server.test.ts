// The 9P2000.L server's operations against a temporary host directory,
// through the wire codec, as Linux's client uses them.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, mkdirSync, lstatSync, readlinkSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { P9Server, MAX_MSIZE } from '../src/platform/p9/server.js';
import { Errno } from '../src/platform/p9/errno.js';
import { Msg, QidType, OpenFlag, AT_REMOVEDIR, HEADER_SIZE, Writer, readHeader, Reader } from '../src/platform/p9/protocol.js';
import { P9Client } from './support/p9-client.js';

let dir: string;
let server: P9Server;
let c: P9Client;
let root: number;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'xmhf-p9-'));
  server = new P9Server(dir);
  c = new P9Client((req) => server.handle(req));
  root = c.mount();
});
afterEach(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });

test('version agrees on 9P2000.L and caps msize at 512 KiB; other versions are "unknown"; an msize below 4 KiB is EINVAL', () => {
  assert.deepEqual(c.version(1 << 20), { msize: MAX_MSIZE, version: '9P2000.L' });
  assert.deepEqual(c.version(8192), { msize: 8192, version: '9P2000.L' });
  assert.equal(c.version(8192, '9P2000.u').version, 'unknown');
  assert.equal(P9Client.errnoOf(() => c.version(512)), Errno.EINVAL);
});

test('walk, lopen and read return a host file\'s bytes; getattr its size and mode', () => {
  mkdirSync(join(dir, 'sub'));
  const data = Buffer.alloc(100_000, 0);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  writeFileSync(join(dir, 'sub', 'f.bin'), data, { mode: 0o640 });
  const { fid, qids } = c.walk(root, ['sub', 'f.bin']);
  assert.equal(qids.length, 2);
  assert.equal(qids[0].type, QidType.DIR);
  assert.equal(qids[1].type, QidType.FILE);
  assert.equal(qids[1].path, statSync(join(dir, 'sub', 'f.bin'), { bigint: true }).ino);
  const attr = c.getattr(fid);
  assert.equal(attr.size, 100_000n);
  assert.equal(attr.mode & 0o170777, 0o100640);
  c.lopen(fid, 0);
  assert.deepEqual(Buffer.from(c.readAll(fid)), data);
  c.clunk(fid);
  assert.deepEqual(server.held, { fids: 1, open: 0 });
});

test('a walk that stops part way answers the qids found and makes no fid; a first name missing is ENOENT', () => {
  mkdirSync(join(dir, 'a'));
  const newFid = c.fid();
  assert.equal(c.walk(root, ['a', 'missing'], newFid).qids.length, 1);
  assert.equal(P9Client.errnoOf(() => c.getattr(newFid)), Errno.EBADF);
  assert.equal(P9Client.errnoOf(() => c.walk(root, ['missing'])), Errno.ENOENT);
  // A walk of no names clones the fid.
  const clone = c.walk(root, []);
  assert.equal(c.getattr(clone.fid).qid.type, QidType.DIR);
});

test('lcreate, write and fsync make a host file; setattr truncates and chmods it', () => {
  const d = c.walk(root, []).fid;
  c.lcreate(d, 'new.txt', OpenFlag.RDWR, 0o600);
  assert.equal(c.write(d, 0n, Buffer.from('hello, host')), 11);
  assert.equal(c.write(d, 5n, Buffer.from('!')), 1);
  c.fsync(d);
  assert.equal(readFileSync(join(dir, 'new.txt'), 'utf8'), 'hello! host');
  assert.equal(statSync(join(dir, 'new.txt')).mode & 0o777, 0o600);
  c.setattr(d, { valid: 0x8 | 0x1, size: 5n, mode: 0o644 });
  assert.equal(readFileSync(join(dir, 'new.txt'), 'utf8'), 'hello');
  assert.equal(statSync(join(dir, 'new.txt')).mode & 0o777, 0o644);
  c.setattr(d, { valid: 0x20 | 0x100, mtime: 1_000_000_000n });
  assert.equal(statSync(join(dir, 'new.txt')).mtimeMs, 1_000_000_000_000);
  // lcreate of a name that exists with O_EXCL: EEXIST.
  const d2 = c.walk(root, []).fid;
  assert.equal(P9Client.errnoOf(() => c.lcreate(d2, 'new.txt', OpenFlag.RDWR | OpenFlag.EXCL, 0o600)), Errno.EEXIST);
});

test('readdir lists every entry (with . and ..) across replies, continuing from the last offset', () => {
  const names = Array.from({ length: 300 }, (_, i) => `file-${i}`);
  for (const n of names) writeFileSync(join(dir, n), n);
  mkdirSync(join(dir, 'd'));
  const fid = c.open(root, '');
  const listed = c.list(fid, 300);
  assert.deepEqual(listed.slice(0, 2), ['.', '..']);
  assert.deepEqual(listed.slice(2).sort(), [...names, 'd'].sort());
  // Reading again from the start gives the same list (the cursor rewinds).
  assert.deepEqual(c.list(fid, 4096), listed);
  const [first] = c.readdir(fid, 0n, 64);
  assert.equal(first.name, '.');
  assert.equal(first.type, 4);
});

test('mkdir, symlink, readlink, link, rename, renameat, unlinkat and remove change the host directory', () => {
  const d = c.walk(root, []).fid;
  c.mkdir(d, 'dir');
  assert.ok(lstatSync(join(dir, 'dir')).isDirectory());
  const q = c.symlink(d, 'ln', '../../elsewhere');
  assert.equal(q.type, QidType.SYMLINK);
  assert.equal(readlinkSync(join(dir, 'ln')), '../../elsewhere');
  assert.equal(c.readlink(c.walk(root, ['ln']).fid), '../../elsewhere');
  writeFileSync(join(dir, 'f'), 'x');
  const f = c.walk(root, ['f']).fid;
  c.link(d, f, 'f2');
  assert.equal(statSync(join(dir, 'f2')).nlink, 2);
  const dirFid = c.walk(root, ['dir']).fid;
  c.rename(f, dirFid, 'moved');
  assert.ok(existsSync(join(dir, 'dir', 'moved')) && !existsSync(join(dir, 'f')));
  // The renamed fid follows its file.
  c.lopen(f, 0);
  assert.equal(Buffer.from(c.readAll(f)).toString(), 'x');
  c.renameat(d, 'f2', dirFid, 'f3');
  assert.ok(existsSync(join(dir, 'dir', 'f3')));
  c.unlinkat(dirFid, 'f3');
  assert.ok(!existsSync(join(dir, 'dir', 'f3')));
  assert.equal(P9Client.errnoOf(() => c.unlinkat(d, 'dir', AT_REMOVEDIR)), Errno.ENOTEMPTY);
  c.remove(c.walk(root, ['dir', 'moved']).fid);
  c.unlinkat(d, 'dir', AT_REMOVEDIR);
  assert.ok(!existsSync(join(dir, 'dir')));
});

test('mknod makes regular files and refuses devices (EPERM) and FIFOs (EOPNOTSUPP)', () => {
  const d = c.walk(root, []).fid;
  assert.equal(c.mknod(d, 'plain', 0o100644).type, QidType.FILE);
  assert.ok(lstatSync(join(dir, 'plain')).isFile());
  assert.equal(P9Client.errnoOf(() => c.mknod(d, 'tty', 0o020666)), Errno.EPERM);
  assert.equal(P9Client.errnoOf(() => c.mknod(d, 'disk', 0o060666)), Errno.EPERM);
  assert.equal(P9Client.errnoOf(() => c.mknod(d, 'fifo', 0o010666)), Errno.EOPNOTSUPP);
  assert.ok(!existsSync(join(dir, 'tty')) && !existsSync(join(dir, 'disk')) && !existsSync(join(dir, 'fifo')));
});

test('statfs reports the host filesystem; lock is granted; getlock reports no conflict; xattrs are EOPNOTSUPP', () => {
  const s = c.statfs(root);
  assert.ok(s.bsize > 0 && s.blocks > 0n);
  writeFileSync(join(dir, 'f'), 'x');
  const f = c.open(root, 'f', OpenFlag.RDWR);
  const lock = c.rpc(Msg.Tlock, (w) => w.u32(f).u8(1).u32(0).u64(0n).u64(0n).u32(42).str('guest'));
  assert.equal(lock.u8(), 0);
  const gl = c.rpc(Msg.Tgetlock, (w) => w.u32(f).u8(1).u64(0n).u64(10n).u32(42).str('guest'));
  assert.equal(gl.u8(), 2);
  assert.equal(P9Client.errnoOf(() => c.rpc(Msg.Txattrwalk, (w) => w.u32(f).u32(c.fid()).str('security.selinux'))), Errno.EOPNOTSUPP);
  // Requests are answered in order, so a flush finds nothing left to cancel and is answered at once.
  assert.equal(c.rpc(Msg.Tflush, (w) => w.u16(7)).remaining, 0);
});

test('errors: bad fids EBADF, reading a directory EISDIR, writing a read-only fid EBADF, unknown messages EOPNOTSUPP', () => {
  assert.equal(P9Client.errnoOf(() => c.getattr(999)), Errno.EBADF);
  const d = c.open(root, '');
  assert.equal(P9Client.errnoOf(() => c.read(d, 0n, 10)), Errno.EISDIR);
  writeFileSync(join(dir, 'f'), 'x');
  const f = c.open(root, 'f', 0);
  assert.equal(P9Client.errnoOf(() => c.write(f, 0n, Buffer.from('y'))), Errno.EBADF);
  const dw = c.walk(root, []).fid;
  assert.equal(P9Client.errnoOf(() => c.lopen(dw, OpenFlag.WRONLY)), Errno.EISDIR);
  // Legacy 9P2000 Tstat (124) and Topen (112) are not 9P2000.L.
  assert.equal(P9Client.errnoOf(() => c.rpc(124, (w) => w.u32(root))), Errno.EOPNOTSUPP);
  assert.equal(P9Client.errnoOf(() => c.rpc(112, (w) => w.u32(root).u8(0))), Errno.EOPNOTSUPP);
});

test('malformed messages get Rlerror EINVAL: a short body, a wrong size field, a Twrite claiming more than it carries', () => {
  const send = (bytes: Uint8Array) => {
    const reply = server.handle(bytes);
    const h = readHeader(reply);
    assert.equal(h.type, Msg.Rlerror);
    return new Reader(reply, HEADER_SIZE).u32();
  };
  const short = new Writer(new Uint8Array(64), Msg.Tgetattr, 5).u32(root).finish();
  assert.equal(send(short), Errno.EINVAL);
  const wrongSize = new Writer(new Uint8Array(64), Msg.Tclunk, 5).u32(root).finish().slice();
  wrongSize[0] = 200;
  assert.equal(send(wrongSize), Errno.EINVAL);
  writeFileSync(join(dir, 'f'), 'x');
  const f = c.open(root, 'f', OpenFlag.RDWR);
  assert.equal(send(new Writer(new Uint8Array(64), Msg.Twrite, 5).u32(f).u64(0n).u32(1000).bytes(Buffer.from('abc')).finish()), Errno.EINVAL);
  assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'x');
  assert.equal(send(new Uint8Array(3)), Errno.EINVAL);
});

test('a reply larger than the guest\'s buffer is Rlerror EMSGSIZE; a read is cut to fit instead', () => {
  writeFileSync(join(dir, 'big'), Buffer.alloc(10_000, 1));
  const f = c.open(root, 'big', 0);
  const small = new P9Client((req) => server.handle(req, 100));
  assert.equal(small.read(f, 0n, 10_000).length, 100 - HEADER_SIZE - 4);
  assert.equal(P9Client.errnoOf(() => small.getattr(f)), Errno.EMSGSIZE);
});

test('a symlink in the share is opened by nobody: lopen of it is ELOOP, its target stays untouched', () => {
  writeFileSync(join(dir, 'real'), 'real');
  symlinkSync('real', join(dir, 'ln'));
  const ln = c.walk(root, ['ln']).fid;
  assert.equal(P9Client.errnoOf(() => c.lopen(ln, 0)), Errno.ELOOP);
});
