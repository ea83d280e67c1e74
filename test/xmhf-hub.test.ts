// The event hub, the intercept composer and the hypapp context against a fake
// vCPU that records the backend calls: for each exit and each answer a hypapp
// can give (CHAIN, every verdict, answers of the wrong type, a throw), the
// calls that must complete the exit, or the message that stops the VM.
import { Dmaprot } from '../src/xmhf/dmaprot.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit, Control, Access, Msr, Vector } from '../src/backend/abi.js';
import { Prot, type Hypapp, type HypappContext, type VsockConnection } from '../src/hypapp/api.js';
import { EventHub, type LoadedHypapp } from '../src/xmhf/hub.js';
import { Intercepts } from '../src/xmhf/intercepts.js';
import { Memprot } from '../src/xmhf/memprot.js';
import { DebugPoints } from '../src/xmhf/debug-points.js';
import { GuestMemory } from '../src/xmhf/guest-memory.js';
import { GuestCpuImpl } from '../src/xmhf/guest-cpu.js';
import { MeasurementLog } from '../src/xmhf/measure.js';
import { createContext, type CoreServices } from '../src/xmhf/context.js';
import { VsockService } from '../src/xmhf/vsock.js';
import type { ChannelPeer, ChannelStream, HostChannel } from '../src/platform/platform.js';
import { ManualClock } from '../src/platform/device.js';
import { FakeMachine } from './support/fake-vcpu.js';

/** The platform's own intercepts (as the PC's: the MSR bitmap, TSC deadline and APIC base). */
const PLATFORM = { controls: Control.USE_MSR_BITMAP, msrs: [{ index: Msr.TSC_DEADLINE, read: true, write: true }] };

/** The core around a FakeVcpu with these hypapps, their init already run. */
function core(...hypapps: Hypapp[]) {
  const machine = new FakeMachine(1 << 20);
  const vcpu = machine.vcpu;
  const mem = new GuestMemory(machine);
  const intercepts = new Intercepts(machine.vcpus, PLATFORM);
  intercepts.apply();
  const memprot = new Memprot(machine, (on) => intercepts.setNestedPaging(on));
  const cpus = [new GuestCpuImpl(vcpu, mem)];
  const clock = new ManualClock();
  const stops: string[] = [];
  const logs: string[] = [];
  const platform: string[] = [];
  // Refused device accesses go to the hub, as createCoreVm wires them.
  const dmaprot = new Dmaprot(machine, memprot, (v) => hub.dmaViolation(v));
  const channel = new FakeChannel();
  const services: CoreServices = {
    cpus, mem, memprot, dmaprot, intercepts, clock, measurements: new MeasurementLog(), counts: new Map(),
    debug: new DebugPoints(memprot, machine),
    log: (line) => logs.push(line), emit: () => {}, stop: (message) => stops.push(message), outsideGuest: (fn) => fn(),
    hold: () => ({ release: () => {} }),
    vsock: new VsockService({ channel, clock, outsideGuest: (fn) => fn(), call: (app, what, fn) => hub.callback(app, what, fn) }),
  };
  const apps: LoadedHypapp[] = hypapps.map((app, i) => ({ app, ctx: createContext(services, i, app.name, { key: 'value' }) }));
  const hub = new EventHub({
    apps, cpus, memprot, debug: services.debug, intercepts,
    portIn: (port, size) => { platform.push(`portIn(0x${port.toString(16)}, ${size})`); return 0xabcdef12; },
    portOut: (port, size, value) => { platform.push(`portOut(0x${port.toString(16)}, ${size}, 0x${value.toString(16)})`); },
    platformMsr: (_vcpu, exit) => { platform.push(`platformMsr(${Exit[exit]})`); },
    count: () => {},
    stop: (message) => stops.push(message),
  });
  for (const a of apps) void a.app.init?.(a.ctx);
  /** Handle `exit` and return what happened: the backend calls, the platform calls and the stop message, if any. */
  const handle = (exit: Exit) => {
    vcpu.calls.length = 0;
    platform.length = 0;
    const stop = hub.handleExit(vcpu, exit);
    return { calls: [...vcpu.calls], platform: [...platform], stop: stop && ('message' in stop ? stop.message : stop.kind) };
  };
  return { machine, vcpu, hub, intercepts, memprot, dmaprot, clock, stops, logs, apps, handle, channel };
}

/** One hypapp named "t" with these callbacks. */
const app = (callbacks: Partial<Hypapp>): Hypapp => ({ name: 't', ...callbacks });
const answer = (r: unknown): Answer => () => r;
const thrower: Answer = () => { throw new Error('boom'); };
const ENOSYS = 0xffff_ffff_ffff_ffdan;

/** A hypapp's answer, deliberately untyped: answers of the wrong type are the point. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Answer = () => any;

type Row = { answer: Answer; calls?: string[]; platform?: string[]; stop?: RegExp };

function table(title: string, setup: (answer: Answer) => ReturnType<typeof core>, exit: Exit, rows: Record<string, Row>): void {
  for (const [name, row] of Object.entries(rows)) {
    test(`${title}: ${name}`, () => {
      const c = setup(row.answer);
      const r = c.handle(exit);
      if (row.stop) {
        assert.match(r.stop ?? '', row.stop);
      } else {
        assert.equal(r.stop, undefined, `no stop (got ${r.stop})`);
        assert.deepEqual(r.calls, row.calls ?? []);
        assert.deepEqual(r.platform, row.platform ?? []);
      }
    });
  }
}

// ---- hypercalls ----
table('onHypercall', (a) => {
  const c = core(app({ onHypercall: (_x, e) => (e.fn === 0x300 ? a() : undefined) }));
  c.vcpu.exit({}, { RAX: 0x300n, RBX: 41n });
  return c;
}, Exit.VMCALL, {
  'CHAIN leaves -ENOSYS in RAX and skips VMCALL': { answer: answer(undefined), calls: [`setReg(RAX, 0x${ENOSYS.toString(16)})`, 'skipInstruction()'] },
  'a bigint goes to RAX': { answer: answer(42n), calls: ['setReg(RAX, 0x2a)', 'skipInstruction()'] },
  'an integer goes to RAX': { answer: answer(7), calls: ['setReg(RAX, 0x7)', 'skipInstruction()'] },
  'a negative answer is two\'s complement': { answer: answer(-1n), calls: ['setReg(RAX, 0xffffffffffffffff)', 'skipInstruction()'] },
  'a string stops the VM, naming hypapp and callback': { answer: answer('42'), stop: /^hypapp t: onHypercall answered the string "42"; expected a bigint or an integer/ },
  'a float stops the VM': { answer: answer(1.5), stop: /^hypapp t: onHypercall answered the number 1\.5/ },
  'a Promise stops the VM': { answer: () => Promise.resolve(1n), stop: /^hypapp t: onHypercall answered a Promise/ },
  'a throw stops the VM with the message': { answer: thrower, stop: /^hypapp t failed in onHypercall: boom$/ },
});

test('onHypercall: hypapps are asked in load order until one answers', () => {
  const asked: string[] = [];
  const c = core(
    { name: 'a', onHypercall: () => { asked.push('a'); return undefined; } },
    { name: 'b', onHypercall: () => { asked.push('b'); return 5n; } },
    { name: 'c', onHypercall: () => { asked.push('c'); return 6n; } },
  );
  c.vcpu.exit({}, { RAX: 0x300n });
  assert.deepEqual(c.handle(Exit.VMCALL).calls, ['setReg(RAX, 0x5)', 'skipInstruction()']);
  assert.deepEqual(asked, ['a', 'b']);
});

table('onGuestReady (hypercall READY)', (a) => {
  const c = core(app({ onGuestReady: () => a() }));
  c.vcpu.exit({}, { RAX: 1n });
  return c;
}, Exit.VMCALL, {
  'its answer is ignored; RAX = 0': { answer: answer(17), calls: ['setReg(RAX, 0x0)', 'skipInstruction()'] },
  'an async handler stops the VM': { answer: () => Promise.resolve(), stop: /^hypapp t: onGuestReady answered a Promise/ },
  'a throw stops the VM': { answer: thrower, stop: /^hypapp t failed in onGuestReady: boom$/ },
});

// ---- port I/O ----
const portCore = (a: Answer, direction: 'in' | 'out') => {
  const c = core(app({ init: (x) => x.claimPorts(0x510, 0x511), onPortIo: () => a() }));
  c.vcpu.exit({ NUMBER: 0x510n, SIZE: 2n, DIRECTION: direction === 'in' ? 1n : 0n, VALUE: 0x1235an });
  return c;
};
table('onPortIo IN', (a) => portCore(a, 'in'), Exit.IO, {
  'CHAIN: the platform\'s device answers (masked to the size)': { answer: answer(undefined), calls: ['completeIo(0xef12)'], platform: ['portIn(0x510, 2)'] },
  '{ value } answers (masked to the size)': { answer: answer({ value: 0x12345 }), calls: ['completeIo(0x2345)'] },
  '\'skip\' is no answer to an IN': { answer: answer('skip'), stop: /^hypapp t: onPortIo answered the string "skip"; expected \{ value: integer \} or undefined/ },
  'a bigint value stops the VM': { answer: answer({ value: 1n }), stop: /^hypapp t: onPortIo answered the object/ },
  'a throw stops the VM': { answer: thrower, stop: /^hypapp t failed in onPortIo: boom$/ },
});
table('onPortIo OUT', (a) => portCore(a, 'out'), Exit.IO, {
  'CHAIN: the platform\'s device gets the write': { answer: answer(undefined), calls: ['completeIo(0x0)'], platform: ['portOut(0x510, 2, 0x235a)'] },
  '\'skip\': emulated, the device never sees it': { answer: answer('skip'), calls: ['completeIo(0x0)'] },
  'a number stops the VM': { answer: answer(3), stop: /^hypapp t: onPortIo answered the number 3; expected \{ value: integer \}, 'skip' or undefined/ },
});

// ---- CPUID ----
table('onCpuid', (a) => {
  const c = core(app({ init: (x) => x.interceptCpuid(), onCpuid: () => a() }));
  c.vcpu.exit({}, { RAX: 0x4000_0000n, RCX: 0n });
  return c;
}, Exit.CPUID, {
  'CHAIN: the CPU\'s table answers': { answer: answer(undefined), calls: ['setReg(RAX, 0x11)', 'setReg(RBX, 0x22)', 'setReg(RCX, 0x33)', 'setReg(RDX, 0x44)', 'skipInstruction()'] },
  'a new result replaces it': { answer: answer({ eax: 1, ebx: 2, ecx: 3, edx: -1 }), calls: ['setReg(RAX, 0x1)', 'setReg(RBX, 0x2)', 'setReg(RCX, 0x3)', 'setReg(RDX, 0xffffffff)', 'skipInstruction()'] },
  'null stops the VM (it once zeroed every leaf)': { answer: answer(null), stop: /^hypapp t: onCpuid answered null; expected \{ eax, ebx, ecx, edx \}/ },
  'a result missing a register stops the VM': { answer: answer({ eax: 1, ebx: 2, ecx: 3 }), stop: /^hypapp t: onCpuid answered the object/ },
});

test('onCpuid: every hypapp sees the previous one\'s result and may rewrite it', () => {
  const c = core(
    { name: 'a', init: (x) => x.interceptCpuid(), onCpuid: (_x, e) => ({ ...e.result, eax: e.result.eax + 1 }) },
    { name: 'b', init: (x) => x.interceptCpuid(), onCpuid: (_x, e) => ({ ...e.result, ebx: e.result.eax * 2 }) },
  );
  c.vcpu.exit({}, { RAX: 0n });
  assert.deepEqual(c.handle(Exit.CPUID).calls.slice(0, 2), ['setReg(RAX, 0x12)', 'setReg(RBX, 0x24)']);
});

// ---- MSRs ----
const msrCore = (a: Answer) => {
  const c = core(app({ init: (x) => x.interceptMsr(0x8b, { read: true, write: true }), onMsr: () => a() }));
  c.vcpu.exit({ NUMBER: 0x8bn, VALUE: 0x55n });
  return c;
};
table('onMsr read', msrCore, Exit.MSR_READ, {
  'CHAIN: the platform completes it': { answer: answer(undefined), platform: ['platformMsr(MSR_READ)'] },
  '\'allow\': the platform (the CPU\'s own MSR) completes it': { answer: answer('allow'), platform: ['platformMsr(MSR_READ)'] },
  '\'deny\': #GP(0)': { answer: answer('deny'), calls: ['inject(HARDWARE_EXCEPTION, 13, 0)'] },
  '\'skip\': the RDMSR is skipped': { answer: answer('skip'), calls: ['skipInstruction()'] },
  '{ value } is emulated into EDX:EAX': { answer: answer({ value: 0x1_0000_0002n }), calls: ['setReg(RAX, 0x2)', 'setReg(RDX, 0x1)', 'skipInstruction()'] },
  'a number value stops the VM': { answer: answer({ value: 2 }), stop: /^hypapp t: onMsr answered the object \{"value":2\}/ },
});
table('onMsr write', msrCore, Exit.MSR_WRITE, {
  'CHAIN: the platform completes it': { answer: answer(undefined), platform: ['platformMsr(MSR_WRITE)'] },
  '\'deny\': #GP(0)': { answer: answer('deny'), calls: ['inject(HARDWARE_EXCEPTION, 13, 0)'] },
  '\'skip\': the write is dropped': { answer: answer('skip'), calls: ['skipInstruction()'] },
  '{ value } is no answer to a write': { answer: answer({ value: 1n }), stop: /^hypapp t: onMsr answered the object .*expected 'allow', 'deny', 'skip' or undefined/ },
});

// ---- control registers ----
table('onCrWrite', (a) => {
  const c = core(app({ init: (x) => x.interceptCrWrites(3), onCrWrite: () => a() }));
  c.vcpu.exit({ NUMBER: 3n, VALUE: 0x4000n }, { CR3: 0x3000n });
  return c;
}, Exit.CR_WRITE, {
  'CHAIN: the write happens': { answer: answer(undefined), calls: ['completeCrWrite(3, 0x4000)'] },
  '\'allow\': the write happens': { answer: answer('allow'), calls: ['completeCrWrite(3, 0x4000)'] },
  '{ value }: that is written instead': { answer: answer({ value: 0x5000n }), calls: ['completeCrWrite(3, 0x5000)'] },
  '\'deny\': #GP(0)': { answer: answer('deny'), calls: ['inject(HARDWARE_EXCEPTION, 13, 0)'] },
  '\'skip\': the MOV is dropped': { answer: answer('skip'), calls: ['skipInstruction()'] },
  'a number stops the VM': { answer: answer(42), stop: /^hypapp t: onCrWrite answered the number 42/ },
});

// ---- exceptions ----
table('onException (#PF)', (a) => {
  const c = core(app({ init: (x) => x.interceptExceptions([Vector.PF]), onException: () => a() }));
  c.vcpu.exit({ NUMBER: BigInt(Vector.PF), FLAGS: 1n, VALUE: 6n, GPA: 0xdead000n });
  return c;
}, Exit.EXCEPTION, {
  'CHAIN: delivered with its error code and CR2': { answer: answer(undefined), calls: ['setReg(CR2, 0xdead000)', 'inject(HARDWARE_EXCEPTION, 14, 6)'] },
  '\'deliver\': the same': { answer: answer('deliver'), calls: ['setReg(CR2, 0xdead000)', 'inject(HARDWARE_EXCEPTION, 14, 6)'] },
  '\'suppress\': nothing reaches the guest': { answer: answer('suppress'), calls: [] },
  'another string stops the VM': { answer: answer('allow'), stop: /^hypapp t: onException answered the string "allow"; expected 'deliver', 'suppress' or undefined/ },
});
table('onException (INT3)', (a) => {
  const c = core(app({ init: (x) => x.interceptExceptions([Vector.BP]), onException: () => a() }));
  c.vcpu.exit({ NUMBER: BigInt(Vector.BP), INSTR_LEN: 1n });
  return c;
}, Exit.EXCEPTION, {
  'CHAIN: delivered as the software interrupt it was, after the instruction': { answer: answer(undefined), calls: ['skipInstruction()', 'inject(SOFTWARE_INTERRUPT, 3)'] },
});

// ---- protection violations ----
const PROTECTED = 0x5000;
const violationCore = (a: Answer, access: number = Access.WRITE) => {
  // Writes hit read-only code; fetches hit data (RW, not executable).
  const prot = access === Access.WRITE ? Prot.READ | Prot.EXEC : Prot.RW;
  const c = core(app({ init: (x) => x.setprot(PROTECTED, 0x1000, prot), onViolation: () => a() }));
  c.vcpu.exit({ GPA: BigInt(PROTECTED + 8), GVA: 0xffff_8000_0000_5008n, DIRECTION: BigInt(access), SIZE: 4n, FLAGS: 1n, VALUE: 0x41n, INSTR_LEN: 3n }, { RIP: 0x401000n });
  return c;
};
table('onViolation', (a) => violationCore(a), Exit.NPF, {
  'CHAIN: nobody handled it, the VM stops naming the access': { answer: answer(undefined), stop: /^memory protection violation that no hypapp handled: write of gpa 0x5008 \(gva 0xffff800000005008\) at RIP 0x401000; the page is RO X$/ },
  '\'skip\': the instruction is skipped': { answer: answer('skip'), calls: ['skipInstruction()'] },
  '{ inject: #PF }: delivered with CR2 = the address': { answer: answer({ inject: { vector: Vector.PF, errorCode: 2 } }), calls: ['setReg(CR2, 0xffff800000005008)', 'inject(HARDWARE_EXCEPTION, 14, 2)'] },
  '{ inject: #GP } without a code: error code 0': { answer: answer({ inject: { vector: Vector.GP } }), calls: ['inject(HARDWARE_EXCEPTION, 13, 0)'] },
  '{ setprot }: no backend call, the instruction retries': { answer: answer({ setprot: Prot.ALL }), calls: [] },
  '{ stop }: the VM stops with the hypapp\'s message': { answer: answer({ stop: 'tampering' }), stop: /^tampering$/ },
  '\'allow\' (not a verdict) stops the VM': { answer: answer('allow'), stop: /^hypapp t: onViolation answered the string "allow"; expected 'allow-once'/ },
  'an exception vector above 31 stops the VM': { answer: answer({ inject: { vector: 300 } }), stop: /^hypapp t: onViolation answered the object/ },
  '{ setprot } with bits that are no protection stops the VM': { answer: answer({ setprot: 0x40 }), stop: /^a hypapp's verdict could not be applied: / },
  'a throw stops the VM': { answer: thrower, stop: /^hypapp t failed in onViolation: boom$/ },
});

test('onViolation \'allow-once\': one instruction runs with the right granted, then the page is read-only again', () => {
  const c = violationCore(answer('allow-once'));
  const r = c.handle(Exit.NPF);
  assert.equal(r.stop, undefined);
  assert.deepEqual(r.calls, ['run(1)']);
  assert.equal(c.memprot.getprot(PROTECTED), Prot.READ | Prot.EXEC);
  assert.equal(c.machine.getNestedPerm(PROTECTED) & Access.WRITE, 0, 'the grant was revoked in the nested page table');
});

test('onViolation { setprot }: the page takes the new protection, in memprot and the nested page table', () => {
  const c = violationCore(answer({ setprot: Prot.RW }));
  c.handle(Exit.NPF);
  assert.equal(c.memprot.getprot(PROTECTED), Prot.RW);
  assert.equal(c.machine.getNestedPerm(PROTECTED), Prot.RW);
});

table('onViolation on an instruction fetch', (a) => violationCore(a, Access.EXEC_SUPER), Exit.NPF, {
  '\'skip\' cannot skip a fetch: the VM stops saying so': { answer: answer('skip'), stop: /^a hypapp asked to skip an instruction fetch at 0xffff800000005008; deny execution with \{ inject \} instead$/ },
});

// ---- MMIO ----
test('onMmio: CHAIN leaves the access to the platform; { value } and \'skip\' answer reads; writes are consumed; a wrong answer stops the VM and reads all ones', () => {
  const answers: unknown[] = [undefined, { value: 0x1234 }, 'skip', 'skip', { value: 'x' }];
  const c = core(app({ init: (x) => x.claimMmio(0xd000_0000, 0x1000), onMmio: (() => answers.shift()) as Answer }));
  assert.equal(c.hub.mmio(0xd000_0010, 4, 0, 'read', 0), undefined);
  assert.equal(c.hub.mmio(0xd000_0010, 4, 0, 'read', 0), 0x1234);
  assert.equal(c.hub.mmio(0xd000_0010, 4, 0, 'read', 0), 0xffffffff);
  assert.equal(c.hub.mmio(0xd000_0010, 4, 0, 'write', 5), 0);
  assert.equal(c.hub.mmio(0xd000_0010, 4, 0, 'read', 0), 0xffffffff);
  assert.deepEqual(c.stops, ['hypapp t: onMmio answered the object {"value":"x"}; expected { value: integer }, \'skip\' or undefined']);
  assert.equal(c.hub.mmio(0xd000_1000, 4, 0, 'read', 0), undefined, 'outside the claim');
});

// ---- breakpoints, watchpoints, single-step ----
test('onBreakpoint: its owner hears of it with the id and RIP; no backend call (the CPU runs the instruction on resuming); an async handler stops the VM', () => {
  const seen: Array<[number, bigint]> = [];
  let id = 0;
  let reply: unknown;
  const c = core(app({ init: (x) => { id = x.addBreakpoint(0x7000n); }, onBreakpoint: (_x, e) => { seen.push([e.id, e.rip]); return reply as void; } }));
  assert.ok(c.machine.breakpoints.has(0x7000), 'set in the backend at the translated address');
  c.vcpu.exit({ GPA: 0x7000n }, { RIP: 0x7000n });
  assert.deepEqual(c.handle(Exit.BREAKPOINT), { calls: [], platform: [], stop: undefined });
  assert.deepEqual(seen, [[id, 0x7000n]]);
  reply = Promise.resolve();
  assert.match(c.handle(Exit.BREAKPOINT).stop ?? '', /^hypapp t: onBreakpoint answered a Promise/);
});

test('onWatchpoint: a write to the watched bytes is reported and then allowed through for one instruction', () => {
  const hits: Array<{ gpa: bigint; access: string }> = [];
  const c = core(app({ init: (x) => { x.addWatchpoint(0x6000, 4, 'write'); }, onWatchpoint: (_x, e) => { hits.push({ gpa: e.gpa, access: e.access }); } }));
  assert.equal(c.machine.getNestedPerm(0x6000) & Access.WRITE, 0, 'the page is write-protected for the watch');
  c.vcpu.exit({ GPA: 0x6002n, DIRECTION: BigInt(Access.WRITE), SIZE: 2n });
  const r = c.handle(Exit.NPF);
  assert.deepEqual(hits, [{ gpa: 0x6002n, access: 'write' }]);
  assert.deepEqual(r, { calls: ['run(1)'], platform: [], stop: undefined });
  assert.equal(c.memprot.getprot(0x6000), Prot.ALL, 'the hypapps\' policy is untouched');
});

test('onStep: the monitor trap flag is on while a hypapp steps the vCPU, and each step reaches it with RIP', () => {
  const rips: bigint[] = [];
  let ctx: HypappContext | undefined;
  const c = core(app({ init: (x) => { ctx = x; x.singleStep(x.cpus[0], true); }, onStep: (_x, e) => { rips.push(e.rip); } }));
  assert.ok(c.vcpu.controls & Control.MONITOR_TRAP_FLAG);
  c.vcpu.exit({}, { RIP: 0x1234n });
  assert.deepEqual(c.handle(Exit.MONITOR_TRAP).calls, []);
  assert.deepEqual(rips, [0x1234n]);
  ctx!.singleStep(ctx!.cpus[0], false);
  assert.equal(c.vcpu.controls & Control.MONITOR_TRAP_FLAG, 0);
});

test('exits the core owns: a triple fault ends the run; an emulation failure stops it naming the exit and RIP', () => {
  const c = core();
  c.vcpu.exit({}, { RIP: 0xfff0n });
  assert.equal(c.handle(Exit.TRIPLE_FAULT).stop, 'triple-fault');
  assert.match(c.handle(Exit.EMULATION_FAILURE).stop ?? '', /^emulation failure at RIP 0xfff0.*, in 64-bit mode: an instruction the fake does not know$/);
  assert.deepEqual(c.handle(Exit.HLT), { calls: [], platform: [], stop: undefined });
});

// ---- the intercept composer ----
test('intercepts: each claim turns on its control and bitmap; the platform\'s own intercepts stay in every composition', () => {
  const c = core(app({
    init: (x) => {
      x.claimPorts(0x510, 0x512);
      x.interceptMsr(Msr.TSC_DEADLINE, { read: false, write: false });
      x.interceptMsr(Msr.LSTAR, { write: true });
      x.interceptCpuid();
      x.interceptCrWrites(3);
      x.interceptExceptions([Vector.PF, Vector.BP]);
    },
  }), { name: 'u', init: (x) => x.interceptExceptions([Vector.GP]) });
  const v = c.vcpu;
  assert.deepEqual([...v.ioIntercepts].sort(), [0x510, 0x511, 0x512]);
  assert.deepEqual(v.msrIntercepts.get(Msr.LSTAR), { read: false, write: true });
  assert.deepEqual(v.msrIntercepts.get(Msr.TSC_DEADLINE), { read: true, write: true }, 'the platform still gets its TSC deadline exits');
  assert.equal(v.controls, Control.USE_MSR_BITMAP | Control.USE_IO_BITMAP | Control.CPUID_EXITING | Control.CR3_WRITE_EXITING);
  assert.equal(v.exceptionBitmap, (1 << Vector.PF) | (1 << Vector.BP) | (1 << Vector.GP), 'the union of every hypapp\'s vectors');
  assert.deepEqual([...c.intercepts.exceptions.get(Vector.GP)!], [1]);
});

test('intercepts: nested paging is on exactly while some page is restricted', () => {
  let ctx: HypappContext | undefined;
  const c = core(app({ init: (x) => { ctx = x; } }));
  assert.equal(c.vcpu.controls & Control.NESTED_PAGING, 0);
  ctx!.setprot(0x3000, 0x2000, Prot.RO);
  assert.ok(c.vcpu.controls & Control.NESTED_PAGING);
  ctx!.setprot(0x3000, 0x2000, Prot.ALL);
  assert.equal(c.vcpu.controls & Control.NESTED_PAGING, 0);
});

test('intercepts: claims that are no claims are refused with what is allowed', () => {
  const c = core(app({}));
  const x = c.apps[0].ctx;
  assert.throws(() => x.claimPorts(0xfff0, 0x10000), /claimPorts: .* not a port range within 0\.\.0xffff/);
  assert.throws(() => x.interceptCrWrites(2 as 3), /CR2 writes cannot be intercepted/);
  assert.throws(() => x.interceptExceptions([32]), /32 is not an exception vector/);
  assert.throws(() => x.interceptMsr(-1, { read: true }), /-1 is not an MSR index/);
});

// ---- the hypapp context ----
test('context: log lines carry the hypapp\'s name; options are its own and frozen; setprot/getprot round-trip; MMIO claims inside RAM are refused', () => {
  const c = core(app({}));
  const x = c.apps[0].ctx;
  x.log('hello', { a: 1n });
  assert.deepEqual(c.logs, ['[t] hello {"a":"0x1"}']);
  assert.deepEqual(x.options, { key: 'value' });
  assert.ok(Object.isFrozen(x.options));
  x.setprot(0x8000, 1, Prot.RO);
  assert.equal(x.getprot(0x8000), Prot.RO);
  assert.equal(x.getprot(0x9000), Prot.ALL, 'only the page overlapping the range');
  assert.throws(() => x.claimMmio(0x1000, 0x1000), /claimMmio: .* must lie above guest RAM/);
  assert.equal(x.ramSize, 1 << 20);
});

test('context: every(ms) runs in guest time until cancelled; a timer that throws stops the VM naming the hypapp, and runs no more', () => {
  const c = core(app({}));
  const x = c.apps[0].ctx;
  let ticks = 0;
  const t = x.every(2, () => { ticks++; });
  c.clock.advanceTo(7e6);
  assert.equal(ticks, 3);
  t.cancel();
  c.clock.advanceTo(20e6);
  assert.equal(ticks, 3);
  let fails = 0;
  x.every(1, () => { fails++; throw new Error('tick failed'); });
  c.clock.advanceTo(30e6);
  assert.equal(fails, 1);
  assert.deepEqual(c.stops, ['hypapp t failed in a timer: tick failed']);
  assert.throws(() => x.every(0, () => {}), /every: 0 is not a positive number of milliseconds/);
});

test('dmaprot: protectFromDma keeps devices out of a page the guest still uses; every hypapp hears of the refused access; a throw there stops the VM', () => {
  const seen: string[] = [];
  const guard: Hypapp = {
    name: 'guard',
    init(x) { x.protectFromDma(0x5000, 1); x.protectFromDma(0x5000, 4096); },
    onDmaViolation(x, e) { seen.push(`${x.name} ${e.device} ${e.direction} 0x${e.gpa.toString(16)}+${e.length}`); },
  };
  const watcher: Hypapp = { name: 'watcher', onDmaViolation(x, e) { seen.push(`${x.name} ${e.device}`); } };
  const { machine, memprot, dmaprot, apps } = core(guard, watcher);
  machine.ram.fill(0x77, 0x5000, 0x6000);
  assert.equal(dmaprot.write('virtio-blk0', 0x5ff0, new Uint8Array(32)), false, 'a write straddling the page is refused whole');
  assert.ok(machine.ram.subarray(0x5000, 0x6000).every((b) => b === 0x77), 'the page is unchanged');
  assert.deepEqual(seen, ['guard virtio-blk0 write 0x5ff0+32', 'watcher virtio-blk0']);
  assert.equal(memprot.getprot(0x5000), Prot.ALL, 'the guest keeps its rights to the page');
  assert.equal(dmaprot.read('virtio-blk0', 0x5000, 8), undefined, 'reads are refused too');
  apps[0].ctx.unprotectFromDma(0x5000, 4096);
  assert.equal(dmaprot.read('virtio-blk0', 0x5000, 8), undefined, 'two protections need two unprotections');
  apps[0].ctx.unprotectFromDma(0x5000, 1);
  assert.deepEqual(dmaprot.read('virtio-blk0', 0x5000, 2), new Uint8Array([0x77, 0x77]));
  assert.throws(() => apps[0].ctx.protectFromDma(0x5000, -1), /protectFromDma/);
  const thrower: Hypapp = { name: 'thrower', onDmaViolation() { throw new Error('boom'); } };
  const t = core(thrower);
  t.memprot.setprot(0x3000, 4096, Prot.RO);
  assert.equal(t.dmaprot.write('virtio-rng0', 0x3000, new Uint8Array(4)), false);
  assert.deepEqual(t.stops, ['hypapp thrower failed in onDmaViolation: boom']);
});

// ---- x.vsock: callbacks from the host channel ----

/** The platform's host channel as the device drives it: the test plays the guest's side. */
class FakeChannel implements HostChannel {
  readonly guestCid = 3;
  readonly listeners = new Map<number, (stream: ChannelStream) => ChannelPeer | undefined>();
  readonly connects: Array<{ port: number; peer: ChannelPeer; onResult: (s: ChannelStream | undefined) => void }> = [];
  listen(port: number, accept: ((stream: ChannelStream) => ChannelPeer | undefined) | undefined): void {
    if (accept) this.listeners.set(port, accept); else this.listeners.delete(port);
  }
  connect(port: number, peer: ChannelPeer, onResult: (s: ChannelStream | undefined) => void): void {
    this.connects.push({ port, peer, onResult });
  }
  /** The guest connects from `guestPort` to host port `port`: the listener's peer, or undefined if refused. */
  guestConnects(port: number, guestPort: number, stream = new FakeStream(guestPort, port)): { peer: ChannelPeer | undefined; stream: FakeStream } {
    return { peer: this.listeners.get(port)?.(stream), stream };
  }
}

/** A connection's sending side: records what the hypapp sends; `room` writes fit before it says full. */
class FakeStream implements ChannelStream {
  readonly sent: string[] = [];
  onDrain: (() => void) | undefined;
  room = Infinity;
  constructor(readonly guestPort: number, readonly hostPort: number) {}
  write(bytes: Uint8Array): boolean { this.sent.push(Buffer.from(bytes).toString()); return --this.room > 0; }
  end(): void { this.sent.push('<end>'); }
  close(): void { this.sent.push('<reset>'); }
}

const bytes = (t: string) => new TextEncoder().encode(t);

test('vsock: a guest connection to a listened port reaches the hypapp between instructions, its data, end and close in order; credit returns once onData took the bytes', () => {
  const seen: string[] = [];
  const c = core(app({
    init(x) {
      x.vsock!.listen(5000, (conn) => {
        seen.push(`connect ${conn.guestPort}->${conn.hostPort}`);
        conn.onData((b) => { seen.push(`data ${Buffer.from(b).toString()}`); conn.write(`echo ${Buffer.from(b).toString()}`); });
        conn.onEnd(() => { seen.push('end'); conn.close(); });
        conn.onClose(() => seen.push('close'));
      });
    },
  }));
  assert.equal(c.channel.guestConnects(5001, 1234).peer, undefined, 'a port nobody listens on is not the hypapp\'s');
  const { peer, stream } = c.channel.guestConnects(5000, 1234);
  assert.ok(peer, 'accepted');
  const done: string[] = [];
  peer.data(bytes('a'), () => done.push('a'));
  peer.data(bytes('b'), () => done.push('b'));
  peer.end();
  assert.deepEqual(seen, [], 'nothing runs inside the device access');
  c.clock.advance(0);
  assert.deepEqual(seen, ['connect 1234->5000', 'data a', 'data b', 'end']);
  assert.deepEqual(done, ['a', 'b']);
  assert.deepEqual(stream.sent, ['echo a', 'echo b', '<end>']);
  peer.closed();
  c.clock.advance(0);
  assert.deepEqual(seen.slice(4), ['close']);
  assert.deepEqual(c.stops, []);
});

test('vsock: data waits for an onData, and the guest\'s credit with it; a full queue refuses writes until onDrain', () => {
  let conn: VsockConnection | undefined;
  const seen: string[] = [];
  const c = core(app({ init(x) { x.vsock!.listen(7, (k) => { conn = k; k.onDrain(() => seen.push('drain')); }); } }));
  const { peer, stream } = c.channel.guestConnects(7, 99);
  const done: number[] = [];
  peer!.data(bytes('early'), () => done.push(1));
  c.clock.advance(0);
  assert.deepEqual(done, [], 'unread: the guest gets no credit back');
  conn!.onData((b) => seen.push(Buffer.from(b).toString()));
  c.clock.advance(0);
  assert.deepEqual([seen, done], [['early'], [1]]);
  stream.room = 1;
  assert.equal(conn!.write('x'), false, 'full');
  assert.throws(() => conn!.write('y'), /vsock port 99: write while the queue is full/);
  stream.room = Infinity;
  stream.onDrain!();
  c.clock.advance(0);
  assert.deepEqual(seen, ['early', 'drain']);
  assert.equal(conn!.write('z'), true);
  assert.deepEqual(stream.sent, ['x', 'z']);
  peer!.closed();
  assert.equal(conn!.write('late'), false, 'the guest has gone: dropped until onClose says so');
  c.clock.advance(0);
  assert.throws(() => conn!.write('later'), /vsock port 99: write on a closed connection/);
  assert.deepEqual(stream.sent, ['x', 'z']);
});

test('vsock: connect hears the connection or undefined; a throwing or async vsock callback stops the VM naming it, and that hypapp hears nothing more', () => {
  const seen: string[] = [];
  const c = core(app({
    init(x) {
      x.vsock!.connect(6000, (k) => {
        seen.push(k ? `open ${k.guestPort}->${k.hostPort}` : 'refused');
        k?.onData(() => { throw new Error('boom'); });
        k?.onClose(() => seen.push('close'));
      });
      x.vsock!.connect(6001, (k) => { seen.push(k ? 'open' : 'refused'); });
      assert.throws(() => x.vsock!.connect(2 ** 32, () => {}), /vsock\.connect: port 4294967296 is not an integer from 0 to 4294967295/);
    },
  }));
  const [ok, refused] = c.channel.connects;
  ok.onResult(new FakeStream(6000, 1 << 20));
  refused.onResult(undefined);
  c.clock.advance(0);
  assert.deepEqual(seen, ['open 6000->1048576', 'refused']);
  ok.peer.data(bytes('x'), () => {});
  ok.peer.closed();
  c.clock.advance(0);
  assert.deepEqual(c.stops, ['hypapp t failed in vsock onData: boom']);
  assert.deepEqual(seen, ['open 6000->1048576', 'refused'], 'no close after the failure');

  const a = core(app({ init(x) { x.vsock!.listen(1, async () => {}); } }));
  a.channel.guestConnects(1, 2);
  a.clock.advance(0);
  assert.match(a.stops[0] ?? '', /^hypapp t: vsock listen answered a Promise/);
  assert.equal(a.channel.guestConnects(1, 3).peer, undefined, 'a failed hypapp takes no more connections');
});
