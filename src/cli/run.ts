// xmhf run: boot a kernel (by default Debian's, with a busybox initramfs) on
// the PC platform with the serial console on stdout.
import { defaultGuest, guestInitramfs, GUEST_CMDLINE, cacheDir } from '../guest/debian.js';
import { createVm, type Vm } from '../vmm.js';
import { loadHypapps } from './hypapps.js';
import { readInputFile } from './input-file.js';
import { ExecOutputFilter } from './exec-output.js';
import { EventsSink } from './events-sink.js';
import { UsageError } from './usage-error.js';

export interface RunOptions {
  kernel?: string;
  initrd?: string;
  append?: string;
  mem: number;
  exec?: string;
  timeoutMs?: number;
  /** --hypapp references, in load order. */
  hypapps?: string[];
  /** --hypapp-opt NAME.key=value flags. */
  hypappOptions?: string[];
  hypappConfig?: string;
  /** Where hypapps' JSON records go (default: standard error). */
  events?: string;
}

/** After the command's status, how long the guest gets to power itself off before the run is ended for it. */
const POWEROFF_GRACE_MS = 10_000;

/** Parse "256M", "2G", "65536K" or a byte count. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--mem ${text}: not a size (examples: 256M, 2G)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

/** Boot and run; resolves to the process exit status. */
export async function runCommand(o: RunOptions): Promise<number> {
  const events = o.events === undefined ? undefined : new EventsSink(o.events, cacheDir());
  let kernel: Uint8Array, initrd: Uint8Array | undefined;
  if (o.kernel) {
    kernel = readInputFile('--kernel', o.kernel, o.mem, 'the guest RAM (--mem)');
    initrd = o.initrd ? readInputFile('--initrd', o.initrd, o.mem, 'the guest RAM (--mem)') : undefined;
  } else {
    if (o.initrd) throw new UsageError('--initrd needs --kernel (the default guest builds its own initramfs)');
    const g = defaultGuest((line) => process.stderr.write(`xmhf: ${line}\n`));
    kernel = g.kernel;
    initrd = guestInitramfs(g, o.exec);
  }
  const hypapps = await loadHypapps(o);
  const quiet = o.exec !== undefined && !o.kernel;
  const cmdline = [GUEST_CMDLINE, quiet ? 'quiet' : '', o.append ?? ''].filter(Boolean).join(' ');

  // With --exec, show only what the command prints: the lines between the markers.
  let status: number | undefined;
  let vm: Vm;
  const filter = new ExecOutputFilter((text) => process.stdout.write(text), (exitStatus) => {
    status = exitStatus;
    setTimeout(() => {
      process.stderr.write('xmhf: the guest did not power off after its command; stopping it\n');
      vm.stop('the guest did not power off after its command');
    }, POWEROFF_GRACE_MS).unref();
  });
  const output = (bytes: Uint8Array) => {
    if (!quiet) { process.stdout.write(bytes); return; }
    filter.push(bytes);
  };
  vm = await createVm({
    kernel, initrd, cmdline, mem: o.mem, hypapps, serialOutput: output,
    onEvent: events && ((app, record) => events.write(app, record)),
  });
  events?.open();
  const detach = o.exec === undefined ? attachConsoleInput(vm) : () => {};
  const { stop, detail } = await vm.run(o.timeoutMs).finally(() => { detach(); events?.close(); });
  if (stop.kind === 'triple-fault') {
    process.stderr.write(`xmhf: the guest triple-faulted ${detail}\n`);
    return 3;
  }
  if (stop.kind === 'halted-by-core') {
    process.stderr.write(`xmhf: ${stop.message}\n`);
    return 4;
  }
  if (stop.kind === 'timeout') {
    process.stderr.write('xmhf: timed out\n');
    return 124;
  }
  if (quiet && status === undefined) {
    process.stderr.write('xmhf: the guest stopped before the command finished\n');
    return 1;
  }
  return status ?? 0;
}

/** Ctrl-]: leaves an interactive session, as in telnet. */
const ESCAPE = 0x1d;
/** Ctrl-D, the guest terminal's end-of-input character: sent when piped input ends. */
const TTY_EOF = 0x04;
/**
 * How often Ctrl-D is sent again after piped input ended: one the guest's
 * terminal gets while a command runs ends only that command's input (or is
 * lost, as typed ahead on a real terminal), so the shell needs another at its prompt.
 */
const TTY_EOF_REPEAT_MS = 1000;

/**
 * Feed stdin to the guest's serial port: raw mode on a terminal (Ctrl-] quits),
 * bytes as they come from a pipe, then Ctrl-D (repeated) so the guest shell sees the end of input.
 */
function attachConsoleInput(vm: Vm): () => void {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  if (raw) {
    stdin.setRawMode(true);
    process.stderr.write('xmhf: serial console attached; press Ctrl-] to quit\r\n');
  }
  const onData = (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk);
    if (raw && bytes.includes(ESCAPE)) { vm.stop('the console user quit (Ctrl-])'); return; }
    vm.consoleInput(bytes);
  };
  let eofTimer: ReturnType<typeof setInterval> | undefined;
  const onEnd = () => {
    if (raw) return;
    const eof = () => vm.consoleInput(new Uint8Array([TTY_EOF]));
    eof();
    eofTimer = setInterval(eof, TTY_EOF_REPEAT_MS).unref();
  };
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    clearInterval(eofTimer);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  };
}
