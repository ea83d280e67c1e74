// xmhf run: boot a kernel (by default Debian's, with a busybox initramfs) on
// the PC platform with the serial console on stdout.
import { readFileSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { defaultGuest, guestInitramfs, READY_MARKER, EXIT_MARKER, GUEST_CMDLINE } from '../guest/debian.js';
import { createVm, type HypappSpec, type Vm } from '../vmm.js';
import { loadHypapp, parseHypappOptions, readHypappConfig, HypappLoadError } from '../xmhf/loader.js';
import { errorMessage } from '../error-message.js';

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

/**
 * Load the hypapps the flags name, each with its options. `--hypapp-opt`
 * names a hypapp by its reference or by that reference's file name without
 * extension (`kguard` for `--hypapp ./hypapps/kguard.ts`).
 */
async function loadHypapps(o: RunOptions): Promise<HypappSpec[]> {
  const wanted = (o.hypapps ?? []).map((ref) => ({ ref, options: {} as Record<string, string> }));
  if (o.hypappConfig) wanted.push(...readHypappConfig(o.hypappConfig));
  const flags = parseHypappOptions(o.hypappOptions ?? []);
  const specs: HypappSpec[] = [];
  for (const w of wanted) {
    const keys = [w.ref, basename(w.ref).replace(/\.[cm]?[jt]s$/, '')];
    const options = Object.assign({ ...w.options }, ...keys.map((k) => flags.get(k) ?? {}));
    for (const k of keys) flags.delete(k);
    specs.push(await loadHypapp(w.ref, options));
  }
  if (flags.size > 0) throw new HypappLoadError(`--hypapp-opt names ${[...flags.keys()].join(', ')}, which no --hypapp loads`);
  return specs;
}

/** The exit marker ends a line; output the command left without a final newline comes before it. */
const EXIT_LINE = new RegExp(`${EXIT_MARKER} (\\d+)\n$`);
/** After the command's status, how long the guest gets to power itself off before the run is ended for it. */
const POWEROFF_GRACE_MS = 10_000;

/** Parse "256M", "2G", "65536K" or a byte count. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`--mem: "${text}" is not a size (examples: 256M, 2G)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

function readFile(flag: string, path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`${flag} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(e)}`);
  }
}

/** Boot and run; resolves to the process exit status. */
export async function runCommand(o: RunOptions): Promise<number> {
  let kernel: Uint8Array, initrd: Uint8Array | undefined;
  if (o.kernel) {
    kernel = readFile('--kernel', o.kernel);
    initrd = o.initrd ? readFile('--initrd', o.initrd) : undefined;
  } else {
    if (o.initrd) throw new Error('--initrd needs --kernel (the default guest builds its own initramfs)');
    const g = defaultGuest((line) => process.stderr.write(`xmhf: ${line}\n`));
    kernel = g.kernel;
    initrd = guestInitramfs(g, o.exec);
  }
  const hypapps = await loadHypapps(o);
  const eventsFd = o.events ? openSync(o.events, 'w') : undefined;
  const quiet = o.exec !== undefined && !o.kernel;
  const cmdline = [GUEST_CMDLINE, quiet ? 'quiet' : '', o.append ?? ''].filter(Boolean).join(' ');

  // With --exec, show only what the command prints: the lines between the markers.
  let pending = '', inCommand = false, status: number | undefined;
  const decoder = new TextDecoder();
  let vm: Vm;
  const output = (bytes: Uint8Array) => {
    if (!quiet) { process.stdout.write(bytes); return; }
    pending += decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl + 1).replace(/\r\n$/, '\n');
      pending = pending.slice(nl + 1);
      const exit = EXIT_LINE.exec(line);
      if (exit && (inCommand || exit.index === 0)) {
        if (inCommand && exit.index > 0) process.stdout.write(line.slice(0, exit.index));
        status = Number(exit[1]);
        inCommand = false;
        setTimeout(() => {
          process.stderr.write('xmhf: the guest did not power off after its command; stopping it\n');
          vm.stop('the guest did not power off after its command');
        }, POWEROFF_GRACE_MS).unref();
      }
      else if (inCommand) process.stdout.write(line);
      else if (line.startsWith(READY_MARKER)) inCommand = true;
    }
  };
  vm = await createVm({
    kernel, initrd, cmdline, mem: o.mem, hypapps, serialOutput: output,
    onEvent: eventsFd === undefined ? undefined
      : (app, record) => writeSync(eventsFd, JSON.stringify({ hypapp: app, ...record }, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)) + '\n'),
  });
  const detach = o.exec === undefined ? attachConsoleInput(vm) : () => {};
  const { stop, detail } = await vm.run(o.timeoutMs).finally(detach);
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

/** Feed stdin to the guest's serial port: raw mode on a terminal (Ctrl-] quits), bytes as they come from a pipe. */
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
  stdin.on('data', onData);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  };
}
