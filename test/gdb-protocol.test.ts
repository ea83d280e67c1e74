// The gdb stub's protocol against a real VM: the WebAssembly CPU running a
// small guest (32-bit protected mode, paging off, so virtual = physical):
//   0x1000000 fld1; fldpi; mov eax, 0x11223344
//   0x1000009 inc dword [0x1000080]; jmp 0x1000009
// A raw client speaks the protocol over a Unix socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVm } from '../src/vmm.js';
import { gdbStub, parseListen } from '../src/gdb/server.js';
import { PacketReader, framePacket } from '../src/gdb/packets.js';
import type { HypappContext } from '../src/hypapp/api.js';
import { vmlinux } from './support/vmlinux.js';
import { GdbClient } from './support/gdb-client.js';

const LOOP = 0x1000009, AFTER_INC = 0x100000f, COUNTER = 0x1000080;
const CODE = Uint8Array.from([
  0xd9, 0xe8, 0xd9, 0xeb, 0xb8, 0x44, 0x33, 0x22, 0x11,
  0xff, 0x05, 0x80, 0x00, 0x00, 0x01,
  0xeb, 0xf8,
]);

const le = (v: bigint, bytes: number) => Buffer.from(Array.from({ length: bytes }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn))).toString('hex');
const hex = (s: string) => Buffer.from(s).toString('hex');
const RIP = '10', RAX = '0', ST0 = '18', XMM3 = (40 + 3).toString(16);

async function startVm(wait = true) {
  const dir = mkdtempSync(join(tmpdir(), 'xmhf-gdb-'));
  const path = join(dir, 'gdb.sock');
  let observer: HypappContext | undefined;
  const logs: string[] = [];
  /** The observer hypapp's own breakpoint at LOOP, and the events it got. */
  const seen = { breakpoints: 0, steps: 0 };
  const vm = await createVm({
    kernel: vmlinux({ entry: 0x1000000, code: CODE }), cmdline: '', serialOutput: () => {}, log: (l) => logs.push(l),
    hypapps: [{
      name: 'observer',
      init: (x) => { observer = x; x.addBreakpoint(BigInt(LOOP)); },
      onBreakpoint: () => { seen.breakpoints++; },
      onStep: () => { seen.steps++; },
    }, gdbStub({ listen: `unix:${path}`, wait })],
  });
  const run = vm.run(120_000);
  const counter = () => new DataView(observer!.readPhysical(COUNTER, 4).buffer).getUint32(0, true);
  return { vm, run, path, counter, logs, observer: observer!, seen };
}

test('gdb stub: registers, memory, breakpoints, steps, watchpoints, Ctrl-C, threads, detach and kill on a real VM', async () => {
  const { vm, run, path, counter, logs, seen } = await startVm();
  const g = await GdbClient.connect(path);
  try {
    assert.match(await g.request('qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386'), /qXfer:features:read\+.*QStartNoAckMode\+/);
    assert.equal(await g.request('?'), 'T05thread:1;');
    // --gdb-wait: the guest has not run an instruction.
    assert.equal(await g.request(`p${RIP}`), le(0x1000000n, 8));
    assert.equal(counter(), 0);

    // Target description, in pieces as gdb reads it.
    let xml = '', off = 0;
    for (;;) {
      const part = await g.request(`qXfer:features:read:target.xml:${off.toString(16)},200`);
      xml += part.slice(1);
      off += part.length - 1;
      if (part[0] === 'l') break;
      assert.equal(part[0], 'm');
    }
    assert.match(xml, /<architecture>i386:x86-64<\/architecture>/);
    for (const name of ['rip', 'eflags', 'st7', 'fop', 'xmm15', 'mxcsr', 'fs_base', 'gs_base', 'cr3', 'efer']) assert.match(xml, new RegExp(`name="${name}"`), name);
    assert.match(xml, /org\.gnu\.gdb\.i386\.sse/);

    // Breakpoint, continue, stop reply; then x87 registers as the code left them.
    assert.equal(await g.request(`Z0,${LOOP.toString(16)},1`), 'OK');
    assert.equal(await g.request('vCont;c'), 'T05thread:1;swbreak:;');
    assert.equal(await g.request(`p${RIP}`), le(BigInt(LOOP), 8));
    assert.equal(await g.request(`p${RAX}`), le(0x11223344n, 8));
    assert.equal(await g.request(`p${ST0}`), '35c26821a2da0fc90040', 'ST0 is pi (80-bit)');
    assert.equal(await g.request(`p${(0x19).toString(16)}`), '0000000000000080ff3f', 'ST1 is 1.0');
    const ftag = Number(BigInt('0x' + (await g.request('p22')).match(/../g)!.reverse().join('')));
    assert.equal(ftag & 0xf000, 0, 'the two pushed registers (physical 7 and 6) are valid');
    assert.equal(ftag & 0x0fff, 0x0fff, 'the rest are empty');
    const all = await g.request('g');
    assert.equal(all.slice(16 * 16, 16 * 16 + 16), le(BigInt(LOOP), 8), 'g: rip after the 16 general registers');

    // Step: one instruction, breakpoint at the start stepped over.
    assert.equal(await g.request('vCont;s:1'), 'T05thread:1;');
    assert.equal(await g.request(`p${RIP}`), le(BigInt(AFTER_INC), 8));
    assert.equal(counter(), 1);
    assert.equal(await g.request('s'), 'T05thread:1;', 'the jmp lands on the breakpoint: a step, the breakpoint not yet run');
    assert.equal(await g.request(`p${RIP}`), le(BigInt(LOOP), 8));
    assert.equal(await g.request('c'), 'T05thread:1;swbreak:;', 'continuing from it runs it and stops there again');
    assert.equal(counter(), 2);
    // A hypapp's breakpoint at the same address got each pass too, and none of gdb's steps.
    assert.equal(seen.breakpoints, 3, 'the hypapp saw its breakpoint on every pass at LOOP');
    assert.equal(seen.steps, 0, 'gdb\'s steps are not the hypapp\'s');
    assert.equal(await g.request(`z0,${LOOP.toString(16)},1`), 'OK');

    // Writes: a general register, an XMM register, memory (virtual, then physical).
    assert.equal(await g.request(`P3=${le(0xdeadbeefn, 8)}`), 'OK');
    assert.equal(await g.request('p3'), le(0xdeadbeefn, 8));
    assert.equal(await g.request(`P${XMM3}=${le(0x0123456789abcdef_fedcba9876543210n, 16)}`), 'OK');
    assert.equal(await g.request(`p${XMM3}`), le(0x0123456789abcdef_fedcba9876543210n, 16));
    assert.equal(await g.request('m1000000,4'), 'd9e8d9eb');
    assert.equal(await g.request(`M${COUNTER.toString(16)},4:64000000`), 'OK');
    assert.equal(counter(), 100);
    assert.equal(await g.request(`qRcmd,${hex('phys on')}`), 'OK');
    assert.match(g.output, /guest-physical/);
    assert.equal(await g.request(`m${COUNTER.toString(16)},4`), '64000000');
    assert.equal(await g.request('m40000000,4'), 'E16', 'physical: outside RAM');
    assert.equal(await g.request(`qRcmd,${hex('phys off')}`), 'OK');
    assert.equal(await g.request('X1000090,0:'), 'OK');
    assert.equal(await g.request('X1000090,2:#}'), 'OK', 'X with bytes the framing escapes');
    assert.equal(await g.request('m1000090,2'), '237d');

    // A write watchpoint reports after the write, with the address.
    assert.equal(await g.request(`Z2,${COUNTER.toString(16)},4`), 'OK');
    assert.equal(await g.request('c'), `T05thread:1;watch:${COUNTER.toString(16)};`);
    assert.equal(await g.request(`p${RIP}`), le(BigInt(AFTER_INC), 8), 'stopped after the writing instruction');
    assert.equal(await g.request(`m${COUNTER.toString(16)},4`), '65000000');
    assert.equal(await g.request(`z2,${COUNTER.toString(16)},4`), 'OK');
    assert.equal(await g.request(`Z3,${COUNTER.toString(16)},4`), 'OK');
    assert.equal(await g.request('c'), `T05thread:1;rwatch:${COUNTER.toString(16)};`, 'inc reads before it writes');
    assert.equal(await g.request(`z3,${COUNTER.toString(16)},4`), 'OK');

    // Threads: one per vCPU.
    assert.equal(await g.request('qfThreadInfo'), 'm1');
    assert.equal(await g.request('qsThreadInfo'), 'l');
    assert.equal(await g.request('qC'), 'QC1');
    assert.equal(await g.request('Hg1'), 'OK');
    assert.equal(await g.request('Hg0'), 'OK');
    assert.equal(await g.request('T1'), 'OK');
    assert.equal(await g.request('Hg5'), 'E16');

    // Ctrl-C stops a running guest.
    g.raw(framePacket('c'));
    await new Promise((r) => setTimeout(r, 200));
    g.raw('\x03');
    assert.equal(await g.reply(), 'T02thread:1;');
    const stoppedAt = counter();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(counter(), stoppedAt, 'held: the guest does not run');

    // Garbage: errors or nothing, never a crash; the session goes on.
    g.raw('garbage$bad#00');
    assert.equal(await g.pendingAcks(), '-', 'a bad checksum is refused');
    assert.equal(await g.request('mzz,4'), 'E16');
    assert.equal(await g.request('P99=00'), 'E16');
    assert.equal(await g.request('Z9,0,0'), '');
    assert.equal(await g.request('G00'), 'E16');
    assert.equal(await g.request('vCont;x'), 'E16');
    assert.equal(await g.request('whatever'), '');
    g.raw(framePacket('m' + 'f'.repeat(0x5000)));
    assert.equal(await g.pendingAcks(), '-', 'an oversized packet is refused');
    assert.equal(await g.request('?'), 'T02thread:1;');

    // No-ack mode.
    assert.equal(await g.request('QStartNoAckMode'), 'OK');
    assert.match(g.acks, /\+$/, 'the request itself was acknowledged');
    const acks = g.acks;
    assert.equal(await g.request('qC'), 'QC1');
    assert.equal(g.acks, acks, 'no acknowledgements after no-ack mode');

    // Detach: breakpoints gone, the guest runs on.
    assert.equal(await g.request(`Z0,${LOOP.toString(16)},1`), 'OK');
    assert.equal(await g.request('D'), 'OK');
    g.close();
    await g.closed;
    const atDetach = counter();
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(counter() > atDetach + 1000, `the guest runs after detach (${atDetach} -> ${counter()})`);
    assert.ok(logs.some((l) => /gdb detached/.test(l)));

    // Attach again (the guest stops), then kill: the run ends, saying why.
    const g2 = await GdbClient.connect(path);
    assert.equal(await g2.request('?'), 'T05thread:1;');
    g2.raw(framePacket('k'));
    const end = await run;
    assert.equal(end.reason, 'stopped');
    assert.match(end.detail ?? '', /killed by gdb/);
    g2.close();
    assert.equal(existsSync(path), false, 'the socket is removed');
  } finally {
    g.close();
    if (vm.state !== 'ended') vm.stop();
    await run.catch(() => {});
  }
});

test('gdb stub: without --gdb-wait the guest runs until gdb attaches; gdb going away resumes it', async () => {
  const { vm, run, path, counter } = await startVm(false);
  try {
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(counter() > 0, 'the guest runs before gdb attaches');
    const g = await GdbClient.connect(path);
    assert.equal(await g.request('?'), 'T05thread:1;');
    const held = counter();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(counter(), held, 'attaching stops the guest');
    const second = await GdbClient.connect(path);
    assert.match(await second.reply(), /^E/, 'a second gdb is refused');
    g.close();
    await g.closed;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(counter() > held, 'gdb going away lets the guest run');
  } finally {
    vm.stop();
    await run;
  }
});

test('gdb stub: --gdb values are checked', () => {
  assert.deepEqual(parseListen('1234'), { port: 1234 });
  assert.deepEqual(parseListen('unix:/tmp/x'), { path: '/tmp/x' });
  for (const bad of ['0', '70000', 'abc', 'unix:', '12.5']) assert.throws(() => parseListen(bad), /--gdb/);
});

test('gdb packets: framing, escapes, checksums, Ctrl-C and garbage', () => {
  const r = new PacketReader();
  assert.deepEqual(r.push(framePacket('m10,4')), [{ kind: 'packet', payload: Uint8Array.from(Buffer.from('m10,4')) }]);
  assert.deepEqual(r.push(framePacket('a#b$c}d*')), [{ kind: 'packet', payload: Uint8Array.from(Buffer.from('a#b$c}d*')) }]);
  assert.deepEqual(r.push(Buffer.from('+-\x03xyz')), [{ kind: 'ack' }, { kind: 'nack' }, { kind: 'interrupt' }]);
  assert.equal(r.push(Buffer.from('$abc#00'))[0].kind, 'corrupt');
  assert.equal(r.push(Buffer.from('$abc#zz'))[0].kind, 'corrupt');
  // A packet cut by a new '$' is dropped; the new one is read.
  assert.deepEqual(r.push(Buffer.concat([Buffer.from('$ab'), framePacket('?')])).map((m) => m.kind), ['packet']);
  // Split across reads.
  const f = framePacket('qSupported');
  assert.deepEqual(r.push(f.subarray(0, 5)), []);
  assert.equal(r.push(f.subarray(5))[0].kind, 'packet');
});
