// xmhf run: boot a kernel (by default Debian's, with a busybox initramfs) on
// the PC platform with the serial console on stdout. The VM runs in a worker
// thread; this thread keeps the terminal, signals, the timeout and the
// watchdog, so a run ends, with the right status, however the VM's time is
// being spent (a guest panic, a halted CPU, a hypapp callback that loops).
import { Worker } from 'node:worker_threads';
import { constants } from 'node:os';
import { defaultGuest, guestInitramfs, GUEST_CMDLINE, cacheDir, READY_MARKER } from '../guest/debian.js';
import { CallbackSlot, epochMs, CALLBACK_TIMEOUT_MS } from '../xmhf/watchdog.js';
import { readInputFile } from './input-file.js';
import { ExecOutputFilter } from './exec-output.js';
import { EventsSink } from './events-sink.js';
import { UsageError } from './usage-error.js';
import { checkRootDisk } from './root-disk.js';
import { MAX_CPUS } from '../vmm.js';
import { ConsoleWatch } from './console-watch.js';
import { ExitStatus } from './exit-status.js';
import { attachConsoleInput, restoreTerminal } from './terminal.js';
import type { FromWorker, RunEnd, ToWorker, VmJob } from './worker-protocol.js';
import type { VmDisk, VmShare } from '../vmm.js';
import type { GdbStubOptions } from '../gdb/server.js';

export interface RunOptions {
  kernel?: string;
  initrd?: string;
  append?: string;
  mem: number;
  /** Processors (default 1). */
  cpus?: number;
  deterministic?: boolean;
  exec?: string;
  timeoutMs?: number;
  /** --hypapp references, in load order. */
  hypapps?: string[];
  /** --hypapp-opt NAME.key=value flags. */
  hypappOptions?: string[];
  hypappConfig?: string;
  /** Where hypapps' JSON records go (default: standard error). */
  events?: string;
  /** A hypapp callback running longer than this ends the run (default CALLBACK_TIMEOUT_MS). */
  callbackTimeoutMs?: number;
  /** Host directories shared over virtio-9p (checked by parseShares). */
  shares?: VmShare[];
  /** Disk images over virtio-blk (--disk; the VM's thread opens and locks them). */
  disks?: VmDisk[];
  /** --gdb and --gdb-wait: the gdb stub's listen address. */
  gdb?: GdbStubOptions;
  /** --vsock PATH: the Unix socket of a virtio-vsock device. */
  vsock?: string;
}

/** After the command's status, how long the guest gets to power itself off before the run is ended for it. */
const POWEROFF_GRACE_MS = 10_000;
/** How often the watchdog looks at the running callback. */
const WATCH_EVERY_MS = 200;
/** After asking the VM to stop (Ctrl-], a signal, a panic, the timeout), how long before its thread is ended for it. */
const STOP_GRACE_MS = 3_000;
/** After a panic line, how long the kernel gets to finish printing it (and reboot, with panic=-1) before the run ends. */
const PANIC_GRACE_MS = 2_000;
/** After the result, how long the VM's thread gets to end by itself (its last log lines are on the way). */
const WORKER_EXIT_MS = 2_000;
/** Ctrl-C, which a raw terminal passes to the guest. */
const CTRL_C = 0x03;
/** How long a hypapp callback must have held the guest before Ctrl-C ends the run instead of reaching the guest. */
const CTRL_C_STUCK_MS = 1_000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Parse --cpus: a whole number of processors, 1 to MAX_CPUS. */
export function parseCpus(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > MAX_CPUS) throw new UsageError(`--cpus ${text}: not a number of processors from 1 to ${MAX_CPUS}`);
  return n;
}

/** Parse "256M", "2G", "65536K" or a byte count. */
export function parseSize(text: string, flag = '--mem'): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${flag} ${text}: not a size (examples: 256M, 2G)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

/** Boot and run; resolves to the process exit status. */
export async function runCommand(o: RunOptions): Promise<number> {
  // Checked here, before the guest boots; the VM's thread opens it when the guest starts.
  if (o.events !== undefined) new EventsSink(o.events, cacheDir());
  if (o.initrd && !o.kernel) throw new UsageError('--initrd needs --kernel (the default guest builds its own initramfs)');
  const quiet = o.exec !== undefined && !o.kernel;
  const cmdline = [GUEST_CMDLINE, quiet ? 'quiet' : '', o.append ?? ''].filter(Boolean).join(' ');
  // A disk the command line makes the root (root=/dev/vdX) must hold a Linux root.
  checkRootDisk((o.disks ?? []).map((d) => d.path), cmdline);
  // The VM's thread loads its modules (most of a second of compiling and linking) while this one reads the guest.
  const worker = new Worker(new URL('./vm-worker-boot.mjs', import.meta.url), { execArgv: [] });
  let kernel: Uint8Array, initrd: Uint8Array | undefined;
  try {
    if (o.kernel) {
      kernel = readInputFile('--kernel', o.kernel, o.mem, 'the guest RAM (--mem)');
      initrd = o.initrd ? readInputFile('--initrd', o.initrd, o.mem, 'the guest RAM (--mem)') : undefined;
    } else {
      const g = defaultGuest((line) => process.stderr.write(`xmhf: ${line}\n`));
      kernel = g.kernel;
      initrd = guestInitramfs(g, o.exec);
    }
  } catch (e) {
    void worker.terminate();
    throw e;
  }
  const slot = new CallbackSlot();
  const job: VmJob = {
    kernel, initrd, cmdline, mem: o.mem, cpus: o.cpus, deterministic: o.deterministic, timeoutMs: o.timeoutMs, callbackTimeoutMs: o.callbackTimeoutMs ?? CALLBACK_TIMEOUT_MS,
    hypapps: o.hypapps, hypappOptions: o.hypappOptions, hypappConfig: o.hypappConfig, events: o.events, slot: slot.buffer,
    shares: o.shares,
    disks: o.disks,
    gdb: o.gdb,
    vsock: o.vsock,
  };
  return new RunSession(o, quiet, slot, worker).run(job);
}

/** One run seen from the main thread: the VM's thread, the console both ways, and every way the run can end. */
class RunSession {
  private readonly watch = new ConsoleWatch(READY_MARKER);
  private readonly callbackTimeoutMs: number;
  private hypappNames: string[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private input: { detach(): void } | undefined;
  private resolve!: (status: number) => void;
  private ended = false;
  /** The status decided before the VM's result arrives (a signal, a stuck VM). */
  private forced: number | undefined;
  /** The --exec command's status, once the guest reported it. */
  private status: number | undefined;
  /** With --exec, only what the command prints (the lines between the markers) reaches standard output. */
  private readonly filter = new ExecOutputFilter((text) => process.stdout.write(text), (status) => {
    this.status = status;
    this.after(POWEROFF_GRACE_MS, () => {
      process.stderr.write('xmhf: the guest did not power off after its command; stopping it\n');
      this.send({ type: 'stop', reason: 'stopped', detail: 'the guest did not power off after its command' });
    });
  });

  constructor(
    private readonly o: RunOptions,
    private readonly quiet: boolean,
    private readonly slot: CallbackSlot,
    /** The VM's thread, started before the guest was read; it waits for the job. */
    private readonly worker: Worker,
  ) {
    this.callbackTimeoutMs = o.callbackTimeoutMs ?? CALLBACK_TIMEOUT_MS;
  }

  run(job: VmJob): Promise<number> {
    const done = new Promise<number>((resolve) => { this.resolve = resolve; });
    this.worker.on('message', (m: FromWorker) => this.message(m));
    this.worker.on('error', (e) => this.end(ExitStatus.INTERNAL, `xmhf: the VM failed: ${e.stack ?? e.message}\n`));
    this.worker.on('exit', () => { this.workerGone = true; this.end(ExitStatus.INTERNAL, 'xmhf: the VM\'s thread ended without a result\n'); });
    // The kernel and initrd move to the VM's thread rather than being copied (tens of MB), when they own their memory.
    const movable = [job.kernel, job.initrd].filter((b): b is Uint8Array => b !== undefined && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength);
    this.worker.postMessage(job, [...new Set(movable.map((b) => b.buffer as ArrayBuffer))]);
    for (const s of SIGNALS) process.on(s, this.onSignal);
    process.on('uncaughtException', this.onCrash);
    this.every(WATCH_EVERY_MS, () => this.watchdog());
    return done;
  }

  private send(m: ToWorker): void { this.worker.postMessage(m); }

  private message(m: FromWorker): void {
    switch (m.type) {
      case 'output': this.output(m.bytes); return;
      case 'stderr': process.stderr.write(m.text); return;
      case 'hypapps': this.hypappNames = m.names; return;
      case 'running':
        if (this.o.timeoutMs !== undefined) {
          // The VM times itself out between instructions; this is for a VM that cannot (stuck in a hypapp callback).
          this.after(this.o.timeoutMs + STOP_GRACE_MS, () => this.kill(ExitStatus.TIMEOUT, `xmhf: timed out${this.inCallbackText()}\n`));
        }
        if (this.o.exec === undefined) {
          this.input = attachConsoleInput((bytes) => this.consoleInput(bytes), () => this.requestStop('left the console'));
        }
        return;
      case 'error':
        // As before the VM had a thread of its own: whatever stops the VM being built is bad input (a kernel, a hypapp).
        this.end(ExitStatus.USAGE, `${m.message.startsWith('xmhf') ? '' : 'xmhf: '}${m.message}\n`);
        return;
      case 'result': this.result(m.end); return;
    }
  }

  /**
   * Typed bytes go to the guest; Ctrl-C (which a raw terminal hands the guest, to interrupt its command)
   * ends the run instead while a hypapp callback has held the guest for a while, as nothing else would answer it.
   */
  private consoleInput(bytes: Uint8Array): void {
    const c = this.slot.current();
    if (bytes.includes(CTRL_C) && c && epochMs() - c.sinceMs >= CTRL_C_STUCK_MS) {
      this.kill(ExitStatus.SIGNAL_BASE + constants.signals.SIGINT, `xmhf: Ctrl-C while the guest is held${this.inCallbackText()}; ending the run\n`);
      return;
    }
    this.send({ type: 'input', bytes });
  }

  private output(bytes: Uint8Array): void {
    if (this.watch.feed(bytes) && this.watch.panic !== undefined) {
      // Let the kernel finish its panic text (or reboot, with panic=-1), then end the run.
      if (this.watch.panicEnded) this.requestStop('the guest kernel panicked', ExitStatus.PANIC);
      else this.after(PANIC_GRACE_MS, () => this.requestStop('the guest kernel panicked', ExitStatus.PANIC));
    }
    if (this.quiet) this.filter.push(bytes);
    else process.stdout.write(bytes);
  }

  /** The VM ended its run. */
  private result(end: RunEnd): void {
    if (this.forced !== undefined) { this.end(this.forced, ''); return; }
    if (end.kind === 'triple-fault') { this.end(ExitStatus.TRIPLE_FAULT, `xmhf: the guest triple-faulted ${end.detail}\n`); return; }
    if (this.watch.panic !== undefined) {
      if (!this.quiet) process.stderr.write('\n');
      this.end(ExitStatus.PANIC, `xmhf: the guest kernel panicked: ${this.watch.panic}\n`);
      return;
    }
    if (end.kind === 'guest-halted') { this.end(ExitStatus.GUEST_HALTED, `xmhf: ${end.detail}\n`); return; }
    if (end.kind === 'halted-by-core') { this.end(ExitStatus.HALTED_BY_CORE, `xmhf: ${end.detail}\n`); return; }
    if (end.kind === 'timeout') { this.end(ExitStatus.TIMEOUT, 'xmhf: timed out\n'); return; }
    if (this.quiet && this.status === undefined) {
      this.end(ExitStatus.NO_COMMAND_STATUS, `xmhf: the guest stopped before the command ${this.watch.markerSeen ? 'finished' : 'started'}\n`);
      return;
    }
    this.end(this.status ?? 0, '');
  }

  /** Under --exec, the console's last lines when the guest died before its command started (nothing else showed them). */
  private bootLog(): string {
    if (!this.quiet || this.watch.markerSeen || this.watch.tail().length === 0) return '';
    return `xmhf: the guest's last console lines:\n${this.watch.tail().map((l) => `  | ${l}\n`).join('')}`;
  }

  /** Ask the VM to stop between instructions; end its thread if it does not within STOP_GRACE_MS. */
  private requestStop(detail: string, status = 0): void {
    if (this.ended) return;
    this.send({ type: 'stop', reason: 'stopped', detail });
    this.after(STOP_GRACE_MS, () => this.kill(status, `xmhf: the VM did not stop (${detail})${this.inCallbackText()}; ending it\n`));
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    const status = ExitStatus.SIGNAL_BASE + constants.signals[signal as (typeof SIGNALS)[number]];
    if (this.forced !== undefined) { this.kill(status, `xmhf: ${signal} again; ending the VM now\n`); return; }
    this.forced = status;
    process.stderr.write(`xmhf: ${signal}: stopping the guest\n`);
    this.send({ type: 'stop', reason: 'signal', detail: signal });
    this.after(STOP_GRACE_MS, () => this.kill(status, `xmhf: the VM did not stop after ${signal}${this.inCallbackText()}; ending it\n`));
  };

  private readonly onCrash = (e: Error): void => {
    restoreTerminal();
    this.kill(ExitStatus.INTERNAL, `xmhf: internal error: ${e.stack ?? e.message}\n`);
  };

  /** End the run on the watchdog's word: a hypapp callback that has not returned in time. */
  private watchdog(): void {
    const c = this.slot.current();
    if (!c) return;
    const ms = epochMs() - c.sinceMs;
    if (ms < this.callbackTimeoutMs) return;
    this.kill(ExitStatus.HALTED_BY_CORE,
      `xmhf: hypapp ${this.hypappName(c.app)} did not return from ${c.callback} in ${(ms / 1000).toFixed(1)} s (--callback-timeout ${this.callbackTimeoutMs / 1000}); ending the run\n`);
  }

  private hypappName(index: number): string { return this.hypappNames[index] ?? `#${index + 1}`; }

  private inCallbackText(): string {
    const c = this.slot.current();
    return c ? ` (hypapp ${this.hypappName(c.app)} has been in ${c.callback} for ${((epochMs() - c.sinceMs) / 1000).toFixed(1)} s)` : '';
  }

  /** End the VM's thread where it stands (its hypapps' shutdown does not run) and end the run. */
  private kill(status: number, message: string): void {
    if (this.ended) return;
    void this.worker.terminate();
    this.end(status, message);
  }

  private end(status: number, message: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    this.input?.detach();
    restoreTerminal();
    for (const s of SIGNALS) process.off(s, this.onSignal);
    process.off('uncaughtException', this.onCrash);
    // Whatever ended the run, if it ended before the --exec command started, nothing else showed the console:
    // the reason first, then the console lines behind it.
    if (status !== 0 && status !== ExitStatus.USAGE) message += this.bootLog();
    process.stderr.write(message);
    // Let the thread end by itself so its last output arrives; end it if it lingers.
    const kill = setTimeout(() => void this.worker.terminate(), WORKER_EXIT_MS);
    this.worker.once('exit', () => { clearTimeout(kill); this.resolve(status); });
    this.worker.removeAllListeners('message');
    this.worker.on('message', (m: FromWorker) => {
      if (m.type === 'stderr') process.stderr.write(m.text);
      else if (m.type === 'output' && !this.quiet) process.stdout.write(m.bytes);
    });
    if (this.workerGone) { clearTimeout(kill); this.resolve(status); }
  }

  private workerGone = false;

  private after(ms: number, fn: () => void): void { this.timers.push(setTimeout(fn, ms)); }
  private every(ms: number, fn: () => void): void { this.timers.push(setInterval(fn, ms)); }
}
