// Nothing a guest sends reaches outside the shared directory: ".." beyond the
// root, absolute and relative symlinks pointing out, a directory swapped for
// such a symlink while the guest walks, names with slashes. Each escape must
// fail with the host's file outside untouched. Also: a read-only share
// refuses every change with EROFS, and the guest cannot make the host hold
// more fids or descriptors than the bounds.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, mkdirSync, symlinkSync, readdirSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { P9Server } from '../src/platform/p9/server.js';
import { Errno } from '../src/platform/p9/errno.js';
import { OpenFlag, QidType, Msg, AT_REMOVEDIR } from '../src/platform/p9/protocol.js';
import { P9Client, RlerrorReply } from './support/p9-client.js';

let base: string, share: string, outside: string;
let server: P9Server;
let c: P9Client;
let root: number;

/** What the host has outside the share: it must read the same after every test. */
const SECRET = 'the host file outside the share';
function outsideState(): string {
  return JSON.stringify(readdirSync(outside).sort().map((n) => {
    const st = statSync(join(outside, n));
    return [n, st.mode, st.size, st.nlink, st.mtimeMs, st.isFile() ? readFileSync(join(outside, n), 'utf8') : ''];
  }));
}
let before: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'xmhf-p9-conf-'));
  share = join(base, 'share');
  outside = join(base, 'outside');
  mkdirSync(share);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), SECRET, { mode: 0o644 });
  before = outsideState();
  server = new P9Server(share);
  c = new P9Client((req) => server.handle(req));
  root = c.mount();
});
afterEach(() => {
  server.close();
  assert.equal(outsideState(), before, 'the files outside the share are untouched');
  rmSync(base, { recursive: true, force: true });
});

test('".." at the root stays at the root: no walk reaches the directory above', () => {
  const rootQid = c.getattr(root).qid;
  const up = c.walk(root, ['..', '..', '..']);
  assert.deepEqual(up.qids.map((q) => q.path), [rootQid.path, rootQid.path, rootQid.path]);
  // The share's parent holds "outside": from the root, ".." then "outside" is not found.
  const partial = c.walk(root, ['..', 'outside', 'secret']);
  assert.equal(partial.qids.length, 1);
  assert.equal(P9Client.errnoOf(() => c.walk(up.fid, ['outside'])), Errno.ENOENT);
  mkdirSync(join(share, 'sub'));
  const back = c.walk(root, ['sub', '..', '..', '..']);
  assert.equal(back.qids.at(-1)!.path, rootQid.path);
  // Names are single components.
  assert.equal(P9Client.errnoOf(() => c.walk(root, ['../outside'])), Errno.EINVAL);
  assert.equal(P9Client.errnoOf(() => c.walk(root, [`..${'/..'.repeat(5)}${outside}`])), Errno.EINVAL);
  const d = c.walk(root, []).fid;
  assert.equal(P9Client.errnoOf(() => c.lcreate(d, '../outside/x', OpenFlag.WRONLY, 0o644)), Errno.EINVAL);
  assert.equal(P9Client.errnoOf(() => c.mkdir(d, '..')), Errno.EINVAL);
  assert.equal(P9Client.errnoOf(() => c.renameat(d, '..', d, 'x')), Errno.EINVAL);
});

/** Every way a guest could use a symlink `name` in the share's root that points outside; all must fail or stay inside. */
function assertSymlinkConfined(name: string, targetText: string) {
  const { fid: ln, qids } = c.walk(root, [name]);
  assert.equal(qids[0].type, QidType.SYMLINK, 'the link is shown as a link');
  // The guest gets the link's text, to resolve in its own namespace.
  assert.equal(c.readlink(ln), targetText);
  // Walking through it: stops at the link (ENOTDIR for a link to a directory).
  assert.equal(c.walk(root, [name, 'secret']).qids.length, 1);
  assert.equal(P9Client.errnoOf(() => c.walk(ln, ['secret'])), Errno.ENOTDIR);
  // Opening it (for reading or truncating writes) is refused.
  assert.equal(P9Client.errnoOf(() => c.lopen(ln, 0)), Errno.ELOOP);
  const ln2 = c.walk(root, [name]).fid;
  assert.equal(P9Client.errnoOf(() => c.lopen(ln2, OpenFlag.WRONLY | OpenFlag.TRUNC)), Errno.ELOOP);
  // Creating in it, or opening it by name with O_CREAT|O_TRUNC: refused.
  assert.equal(P9Client.errnoOf(() => c.lcreate(c.walk(root, [name]).fid, 'new', OpenFlag.WRONLY, 0o644)), Errno.ENOTDIR);
  assert.equal(P9Client.errnoOf(() => c.lcreate(c.walk(root, []).fid, name, OpenFlag.WRONLY | OpenFlag.TRUNC, 0o644)), Errno.ELOOP);
  assert.equal(P9Client.errnoOf(() => c.mkdir(ln, 'x')), Errno.ENOTDIR);
  assert.equal(P9Client.errnoOf(() => c.symlink(ln, 'x', '/')), Errno.ENOTDIR);
  assert.equal(P9Client.errnoOf(() => c.unlinkat(ln, 'secret')), Errno.ENOTDIR);
  assert.equal(P9Client.errnoOf(() => c.renameat(ln, 'secret', root, 'stolen')), Errno.ENOTDIR);
  // Attributes: of the link itself, never of its target.
  assert.equal(P9Client.errnoOf(() => c.setattr(ln, { valid: 0x1, mode: 0o777 })), Errno.EOPNOTSUPP);
  assert.equal(P9Client.errnoOf(() => c.setattr(ln, { valid: 0x8, size: 0n })), Errno.EINVAL);
  c.setattr(ln, { valid: 0x20 | 0x100, mtime: 12345n });
  assert.equal((c.getattr(ln).mode & 0o170000), 0o120000);
  // A hard link to it is a link to the symlink, inside the share.
  c.link(root, ln, `${name}-hard`);
  assert.equal(c.walk(root, [`${name}-hard`]).qids[0].type, QidType.SYMLINK);
  // Removing it removes the link.
  c.unlinkat(root, name);
  assert.equal(P9Client.errnoOf(() => c.walk(root, [name])), Errno.ENOENT);
}

test('an absolute symlink to a directory outside is never followed by the host', () => {
  symlinkSync(outside, join(share, 'abs'));
  assertSymlinkConfined('abs', outside);
});

test('a relative symlink climbing out is never followed by the host', () => {
  symlinkSync('../outside', join(share, 'rel'));
  assertSymlinkConfined('rel', '../outside');
});

test('a symlink to a file outside cannot be read, written, truncated or chmodded through', () => {
  symlinkSync(join(outside, 'secret'), join(share, 'file'));
  const f = c.walk(root, ['file']).fid;
  assert.equal(P9Client.errnoOf(() => c.lopen(f, OpenFlag.RDWR)), Errno.ELOOP);
  assert.equal(P9Client.errnoOf(() => c.setattr(f, { valid: 0x8, size: 0n })), Errno.EINVAL);
  assert.equal(P9Client.errnoOf(() => c.setattr(f, { valid: 0x1, mode: 0o600 })), Errno.EOPNOTSUPP);
  assert.equal(P9Client.errnoOf(() => c.lcreate(c.walk(root, []).fid, 'file', OpenFlag.RDWR | OpenFlag.APPEND, 0o644)), Errno.ELOOP);
  assert.equal(c.getattr(f).size, BigInt(join(outside, 'secret').length), 'getattr is the link\'s own (its length is its text\'s)');
  // The guest may make symlinks pointing anywhere: they are text; the host never follows them.
  c.symlink(root, 'made', '/etc/passwd');
  assert.equal(P9Client.errnoOf(() => c.lopen(c.walk(root, ['made']).fid, 0)), Errno.ELOOP);
});

test('a directory swapped with a symlink to outside while the guest walks and creates never lets it out', async () => {
  // sub is a real directory or a symlink to ../outside, swapped by renames in another process as fast as it can.
  mkdirSync(join(share, 'sub'));
  writeFileSync(join(share, 'sub', 'secret'), 'inside');
  symlinkSync('../outside', join(share, 'swap-link'));
  const swapper = spawn(process.execPath, ['-e', `
    const { renameSync } = require('node:fs');
    process.chdir(${JSON.stringify(share)});
    for (;;) { renameSync('sub', 'swap-dir'); renameSync('swap-link', 'sub'); renameSync('sub', 'swap-link'); renameSync('swap-dir', 'sub'); }
  `], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const outcomes = new Map<string, number>();
    const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    // Held across swaps: it names the path "sub", resolved at each use. Between two renames "sub" may not exist: walk again.
    let sub: number | undefined;
    for (let tries = 0; sub === undefined && tries < 1000; tries++) {
      try { sub = c.walk(root, ['sub']).fid; } catch (e) { if (!(e instanceof RlerrorReply) && !(e instanceof Error && e.message.startsWith('walk'))) throw e; }
    }
    assert.ok(sub !== undefined, 'sub was there at least once in 1000 walks');
    // First reads only (so the file inside stays there to be found), then changes.
    for (let i = 0; i < 2000; i++) {
      try {
        const f = c.open(root, 'sub/secret', 0);
        const text = Buffer.from(c.readAll(f)).toString();
        c.clunk(f);
        assert.notEqual(text, SECRET, 'read the file outside the share');
        count(text);
      } catch (e) {
        if (!(e instanceof RlerrorReply) && !(e instanceof Error && e.message.startsWith('walk'))) throw e;
        count(e instanceof RlerrorReply ? `errno ${e.errno}` : 'partial walk');
      }
    }
    for (let i = 0; i < 1000; i++) {
      for (const attempt of [
        () => { const d = c.walk(sub, []).fid; c.lcreate(d, `made-${i}`, OpenFlag.WRONLY, 0o644); c.write(d, 0n, Buffer.from('x')); c.clunk(d); },
        () => c.mkdir(sub, `dir-${i}`),
        () => c.setattr(c.walk(root, ['sub', 'secret']).fid, { valid: 0x8 | 0x1, size: 0n, mode: 0o600 }),
        () => c.unlinkat(sub, 'secret'),
      ]) {
        try { attempt(); } catch (e) { if (!(e instanceof RlerrorReply) && !(e instanceof Error && e.message.startsWith('walk'))) throw e; }
      }
    }
    assert.ok((outcomes.get('inside') ?? 0) > 0, `some walks found the real directory: ${JSON.stringify([...outcomes])}`);
    assert.ok([...outcomes.keys()].some((k) => k !== 'inside'), `some walks met the symlink: ${JSON.stringify([...outcomes])}`);
  } finally {
    swapper.kill();
    await new Promise((r) => swapper.once('exit', r));
  }
});

test('a read-only share refuses every change with EROFS and leaves the directory as it was', () => {
  writeFileSync(join(share, 'f'), 'content');
  mkdirSync(join(share, 'd'));
  const snapshot = () => JSON.stringify(readdirSync(share, { recursive: true }).sort().map((n) => [n, statSync(join(share, String(n))).mode, statSync(join(share, String(n))).mtimeMs]));
  const was = snapshot();
  server.close();
  server = new P9Server(share, { readOnly: true });
  root = c.mount();
  const f = () => c.walk(root, ['f']).fid;
  const d = () => c.walk(root, ['d']).fid;
  const refused: Array<[string, () => unknown]> = [
    ['lopen for writing', () => c.lopen(f(), OpenFlag.WRONLY)],
    ['lopen read-write', () => c.lopen(f(), OpenFlag.RDWR)],
    ['lopen with O_TRUNC', () => c.lopen(f(), OpenFlag.TRUNC)],
    ['lcreate', () => c.lcreate(d(), 'new', OpenFlag.WRONLY, 0o644)],
    ['mkdir', () => c.mkdir(d(), 'x')],
    ['symlink', () => c.symlink(d(), 'x', 'y')],
    ['link', () => c.link(d(), f(), 'x')],
    ['mknod', () => c.mknod(d(), 'x', 0o100644)],
    ['rename', () => c.rename(f(), d(), 'x')],
    ['renameat', () => c.renameat(root, 'f', root, 'g')],
    ['unlinkat', () => c.unlinkat(root, 'f')],
    ['unlinkat of a directory', () => c.unlinkat(root, 'd', AT_REMOVEDIR)],
    ['remove', () => c.remove(f())],
    ['setattr', () => c.setattr(f(), { valid: 0x1, mode: 0o777 })],
    ['truncate', () => c.setattr(f(), { valid: 0x8, size: 0n })],
    ['xattrcreate', () => { const fid = f(); return c.rpc(Msg.Txattrcreate, (w) => w.u32(fid).str('user.x').u64(1n).u32(0)); }],
  ];
  for (const [what, call] of refused) assert.equal(P9Client.errnoOf(call), Errno.EROFS, what);
  // Reading still works.
  const r = c.open(root, 'f', 0);
  assert.equal(Buffer.from(c.readAll(r)).toString(), 'content');
  assert.equal(snapshot(), was);
});

test('fids and open descriptors are bounded; clunk and Tversion give them back; the host leaks no descriptor', () => {
  writeFileSync(join(share, 'f'), 'x');
  server.close();
  server = new P9Server(share, { maxFids: 50, maxOpen: 10 });
  root = c.mount();
  const fds = () => readdirSync('/proc/self/fd').length;
  const fids: number[] = [];
  for (let i = 0; i < 49; i++) fids.push(c.walk(root, ['f']).fid);
  assert.equal(P9Client.errnoOf(() => c.walk(root, ['f'])), Errno.ENFILE);
  for (const fid of fids.splice(0)) c.clunk(fid);
  const start = fds();
  for (let i = 0; i < 10; i++) fids.push(c.open(root, i % 2 ? 'f' : '', 0));
  assert.equal(P9Client.errnoOf(() => c.open(root, 'f', 0)), Errno.EMFILE);
  assert.ok(fds() > start);
  for (const fid of fids.splice(0)) c.clunk(fid);
  for (let i = 0; i < 2000; i++) {
    const fid = c.open(root, i % 2 ? 'f' : '', 0);
    if (i % 2) c.readAll(fid); else c.list(fid);
    c.clunk(fid);
  }
  assert.equal(fds(), start, 'host descriptors after 2000 opens and clunks');
  for (let i = 0; i < 5; i++) c.open(root, 'f', 0);
  c.version();
  assert.deepEqual(server.held, { fids: 0, open: 0 });
  assert.equal(fds(), start);
});
