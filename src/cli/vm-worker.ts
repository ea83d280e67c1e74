// The VM's thread under `xmhf run`: loads the hypapps, builds the VM and runs
// it, while the main thread keeps the terminal, signals, the timeout and the
// watchdog (it can end this thread, however the time is being spent here).
// Console output and log lines go to the main thread as messages, batched
// (the UART hands over one byte at a time).
import { parentPort } from 'node:worker_threads';
import { createVm } from '../vmm.js';
import { CallbackSlot } from '../xmhf/watchdog.js';
import { loadHypapps } from './hypapps.js';
import { gdbStub } from '../gdb/server.js';
import { EventsSink, eventLine } from './events-sink.js';
import { cacheDir } from '../guest/debian.js';
import type { FromWorker, ToWorker, VmJob } from './worker-protocol.js';

const port = parentPort!;
const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer ?? []);

/** Console bytes not yet posted; flushed when the event loop next turns (the run loop yields every few ms). */
let pending: Uint8Array[] = [];
let pendingBytes = 0;
function flushOutput(): void {
  if (pendingBytes === 0) return;
  const bytes = new Uint8Array(pendingBytes);
  let at = 0;
  for (const c of pending) { bytes.set(c, at); at += c.length; }
  pending = [];
  pendingBytes = 0;
  post({ type: 'output', bytes }, [bytes.buffer]);
}
function output(bytes: Uint8Array): void {
  if (pendingBytes === 0) setImmediate(flushOutput);
  pending.push(bytes.slice());
  pendingBytes += bytes.length;
}
const stderr = (text: string) => { flushOutput(); post({ type: 'stderr', text }); };

async function run(job: VmJob, inbox: ToWorker[], onMessage: (handler: (m: ToWorker) => void) => void): Promise<void> {
  const hypapps = await loadHypapps(job);
  if (job.gdb) hypapps.push({ app: gdbStub(job.gdb) });
  post({ type: 'hypapps', names: hypapps.map((h) => h.app.name) });
  const events = job.events === undefined ? undefined : new EventsSink(job.events, cacheDir());
  const vm = await createVm({
    kernel: job.kernel, initrd: job.initrd, cmdline: job.cmdline, mem: job.mem, cpus: job.cpus, deterministic: job.deterministic, hypapps, shares: job.shares, disks: job.disks,
    serialOutput: output,
    log: (line) => stderr(`xmhf: ${line}\n`),
    onEvent: events ? (app, record) => events.write(app, record) : (app, record) => stderr(eventLine(app, record)),
    callbackMonitor: new CallbackSlot(job.slot),
    initTimeoutMs: job.callbackTimeoutMs,
    vsock: job.vsock,
  });
  const handle = (m: ToWorker) => {
    try {
      if (m.type === 'input') vm.consoleInput(m.bytes);
      else vm.stop(m.detail, m.reason);
    } catch { /* the run has just ended: the result is on its way */ }
  };
  for (const m of inbox.splice(0)) handle(m);
  onMessage(handle);
  events?.open();
  post({ type: 'running' });
  const r = await vm.run(job.timeoutMs).finally(() => events?.close());
  flushOutput();
  post({ type: 'result', end: { kind: r.stop.kind, reason: r.reason, detail: r.detail } });
}

// The job comes first; messages that arrive while hypapps load wait in the inbox.
const inbox: ToWorker[] = [];
let handler: (m: ToWorker) => void = (m) => inbox.push(m);
port.once('message', (job: VmJob) => {
  port.on('message', (m: ToWorker) => handler(m));
  run(job, inbox, (h) => { handler = h; }).catch((e: unknown) => {
    flushOutput();
    post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }).finally(() => {
    // Nothing more to do here: let the thread end once its output is out.
    port.removeAllListeners('message');
    port.unref();
  });
});
