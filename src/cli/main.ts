// xmhf command line.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runCommand, parseSize, parseCpus } from './run.js';
import { CALLBACK_TIMEOUT_MS } from '../xmhf/watchdog.js';
import { defaultGuest, cacheDir, guestInitramfs } from '../guest/debian.js';
import { prepareI386Guest } from '../guest/i386.js';
import { UsageError, USAGE_STATUS } from './usage-error.js';
import { ExitStatus, EXIT_STATUS_HELP } from './exit-status.js';
import { restoreTerminal } from './terminal.js';
import { parseShares } from './shares.js';
import { parseDisks } from './disks.js';
import { resolveDiskNames } from './root-disk.js';
import { parseListen } from '../gdb/server.js';
import { imageCommand, IMAGE_USAGE } from './image.js';

const RUN_USAGE = `usage: xmhf run [options]

boot a Linux guest on the x86-64 CPU with the serial console here
  --kernel FILE    a vmlinux (PVH) or bzImage; default: Debian's kernel
  --initrd FILE    an initramfs for --kernel
  --append ARGS    more kernel command-line arguments
  --mem SIZE       guest RAM, e.g. 256M (default) or 2G
  --cpus N         processors, 1 to 8 (default 1)
  --deterministic  guest time counts retired instructions and the processors take
                   turns in fixed slices: the same command runs the same instructions
                   in the same order (the wall clock starts at 2026-01-01)
  --exec CMD       run CMD in the default guest's shell, print its output,
                   exit with its status (141 if the reader of the output goes away)
  --timeout SECS   give up after SECS seconds of host time
  --callback-timeout SECS
                   end the run when a hypapp callback has not returned (or its
                   init not settled) after SECS seconds (default ${CALLBACK_TIMEOUT_MS / 1000})
  --hypapp REF     load a hypapp (repeatable, in order): a shipped one
                   (hello, syscalls, kguard), a .ts/.js file or a package
  --hypapp-opt NAME.KEY=VALUE
                   an option for hypapp NAME (repeatable)
  --hypapp-config FILE
                   hypapps and options from JSON:
                   {"hypapps":[{"hypapp":"hello","options":{}}]}
  --events FILE    write hypapps' JSON records to FILE, opened when the guest starts
                   (- for standard output; default: standard error)
  --share HOSTDIR[:TAG][,ro]
                   share a host directory over virtio-9p (repeatable); the default
                   guest mounts it at /mnt/TAG (TAG: the directory's name by default);
                   ro refuses the guest's writes; the guest never reaches outside it
  --disk FILE[,ro][,snapshot]
                   a raw disk image over virtio-blk (repeatable: /dev/vda, /dev/vdb, ...);
                   the guest's writes go to FILE (its sync/flush reaches the host's disk)
                   unless ro (read-only) or snapshot (writes are dropped at exit);
                   one VM at a time may write an image; debian: the image
                   \`xmhf image debian\` built, as the root disk
  --gdb PORT|unix:PATH
                   serve the GDB remote protocol on 127.0.0.1:PORT or a Unix socket
                   (gdb: target remote :PORT; docs/gdb.md)
  --gdb-wait       with --gdb: hold the guest before its first instruction until
                   gdb attaches and continues it
  --vsock PATH     a virtio-vsock device, its host side the Unix socket PATH: host
                   programs connect there and write "CONNECT <port>\n" (answer
                   "OK <n>\n"); guest connections to CID 2 port P reach PATH_P
  --help           this text
Without --exec, standard input goes to the guest's console (Ctrl-] quits);
piped input ends with Ctrl-D, the end of input for the guest's shell.

${EXIT_STATUS_HELP}`;

const USAGE = `usage: xmhf <command> [options]

commands:
  run       boot a Linux guest (xmhf run --help lists its options)
  guest     fetch and prepare the default guest (Debian's kernel and busybox-static)
              into ~/.cache/xmhf-ts (XMHF_CACHE overrides); asks apt for the current
              kernel (run uses the one recorded here) and repairs the cache's records
              --i386           instead, Debian's 32-bit kernels (686, 686-pae) and
                               busybox-static:i386 with an initramfs for them; prints
                               the --kernel and --initrd files (needs the i386
                               architecture: dpkg --add-architecture i386)
  image     build the Debian root disk \`xmhf run --disk debian\` boots
              (xmhf image --help lists its options)
  --help    this text

${EXIT_STATUS_HELP}`;

const RUN_OPTIONS = {
  kernel: { type: 'string' }, initrd: { type: 'string' }, append: { type: 'string' },
  mem: { type: 'string' }, cpus: { type: 'string' }, deterministic: { type: 'boolean' }, exec: { type: 'string' }, timeout: { type: 'string' },
  hypapp: { type: 'string', multiple: true }, 'hypapp-opt': { type: 'string', multiple: true },
  'hypapp-config': { type: 'string' }, events: { type: 'string' }, 'callback-timeout': { type: 'string' },
  share: { type: 'string', multiple: true },
  disk: { type: 'string', multiple: true },
  gdb: { type: 'string' }, 'gdb-wait': { type: 'boolean' },
  vsock: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A one-line error about `xmhf CMD`'s flags, with where to read about them. */
const flagError = (cmd: string, what: string) => new UsageError(`xmhf ${cmd}: ${what} (xmhf ${cmd} --help lists the options)`);

/** The flags of `xmhf CMD` as parseArgs reads them; its errors become one line naming the flag. */
function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(cmd: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true }).values;
  } catch (e) {
    const { code, message } = e as { code?: string; message: string };
    const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw flagError(cmd, `unknown option ${quoted}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw flagError(cmd, `${quoted.replace(/ <value>$/, '')} needs a value`);
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw flagError(cmd, `unexpected argument ${quoted}`);
    throw flagError(cmd, message.split('\n')[0]);
  }
}

/** A flag's value checked before anything runs; bad values name the flag. */
function flagValue<T>(cmd: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw flagError(cmd, (e as Error).message);
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === 'run') {
    const values = flagHelp(parseFlags(cmd, rest, RUN_OPTIONS), RUN_USAGE);
    if (values === undefined) return 0;
    const millis = (flag: string, text: string | undefined) => flagValue(cmd, () => {
      if (text === undefined) return undefined;
      const seconds = Number(text);
      if (!(seconds > 0 && seconds < 2 ** 31 / 1000)) throw new Error(`--${flag} ${text}: not a number of seconds`);
      return seconds * 1000;
    });
    const timeoutMs = millis('timeout', values.timeout);
    const callbackTimeoutMs = millis('callback-timeout', values['callback-timeout']);
    const mem = flagValue(cmd, () => parseSize(values.mem ?? '256M'));
    const shares = parseShares(values.share ?? []);
    // Cached image names (debian) become files, and the first a root= unless --append chose one.
    const named = resolveDiskNames(values.disk ?? [], values.append);
    const disks = parseDisks(named.disks);
    const append = [values.append, named.append].filter((a) => a !== undefined).join(' ') || undefined;
    const cpus = flagValue(cmd, () => parseCpus(values.cpus ?? '1'));
    if (values['gdb-wait'] && values.gdb === undefined) throw flagError(cmd, '--gdb-wait needs --gdb');
    if (values.gdb !== undefined) flagValue(cmd, () => parseListen(values.gdb!));
    return runCommand({
      gdb: values.gdb === undefined ? undefined : { listen: values.gdb, wait: values['gdb-wait'] ?? false },
      kernel: values.kernel, initrd: values.initrd, append, exec: values.exec, mem, cpus,
      deterministic: values.deterministic,
      timeoutMs, callbackTimeoutMs,
      hypapps: values.hypapp, hypappOptions: values['hypapp-opt'], hypappConfig: values['hypapp-config'], events: values.events,
      shares,
      disks,
      vsock: values.vsock,
    });
  }
  if (cmd === 'guest') {
    const values = flagHelp(parseFlags(cmd, rest, { help: { type: 'boolean', short: 'h' }, i386: { type: 'boolean' } }), USAGE);
    if (values === undefined) return 0;
    if (values.i386) {
      const g = prepareI386Guest((busybox) => guestInitramfs({ busybox }), (line) => process.stderr.write(`xmhf: ${line}\n`));
      process.stdout.write(`32-bit guest ready: xmhf run --kernel KERNEL --initrd ${g.initrd} [--mem 3G]\n` +
        Object.entries(g.kernels).map(([flavour, path]) => `  ${flavour}: --kernel ${path}\n`).join(''));
      return 0;
    }
    const g = defaultGuest((line) => process.stderr.write(`xmhf: ${line}\n`), { refresh: true });
    process.stdout.write(`default guest ready in ${cacheDir()}: kernel ${g.version}, busybox ${g.busybox.length} bytes\n`);
    return 0;
  }
  if (cmd === 'image') {
    // xmhf image KIND [options]
    const kind = rest[0]?.startsWith('-') ? undefined : rest[0];
    const values = flagHelp(parseFlags(cmd, rest.slice(kind === undefined ? 0 : 1), {
      help: { type: 'boolean', short: 'h' }, packages: { type: 'string' }, size: { type: 'string' },
    }), IMAGE_USAGE);
    if (values === undefined) return 0;
    const size = values.size === undefined ? undefined : flagValue(cmd, () => parseSize(values.size!, '--size'));
    return imageCommand(kind, { packages: values.packages, size });
  }
  throw new UsageError(`xmhf: unknown command "${cmd}" (xmhf --help lists the commands)`);
}

/** With --help, print `usage` and return undefined (the command then ends with status 0). */
function flagHelp<V extends { help?: boolean | string | (boolean | string)[] | undefined }>(values: V, usage: string): V | undefined {
  if (!values.help) return values;
  process.stdout.write(usage);
  return undefined;
}

/** When the reader of the output goes away (xmhf run ... | head -1): end quietly, with the status a shell gives a command SIGPIPE ended. */
const STDOUT_CLOSED_STATUS = ExitStatus.STDOUT_CLOSED;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(STDOUT_CLOSED_STATUS);
  throw e;
});

// Every way out ends with a status and a message: a promise left pending with
// nothing else to wait for would otherwise end the process with status 0.
let settled = false;
process.on('beforeExit', () => {
  if (settled) return;
  settled = true;
  restoreTerminal();
  process.stderr.write('xmhf: internal error: the command ended without a result\n');
  process.exitCode = ExitStatus.INTERNAL;
});
main(process.argv.slice(2)).then(
  (status) => { settled = true; process.exitCode = status; },
  (e: Error) => {
    settled = true;
    process.stderr.write(`${e.message.startsWith('xmhf') ? '' : 'xmhf: '}${e.message}\n`);
    process.exitCode = USAGE_STATUS;
  },
);
