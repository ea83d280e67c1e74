// xmhf command line.
import { parseArgs } from 'node:util';
import { runCommand, parseSize } from './run.js';
import { CALLBACK_TIMEOUT_MS } from '../xmhf/watchdog.js';
import { defaultGuest, cacheDir } from '../guest/debian.js';
import { ExitStatus, EXIT_STATUS_HELP } from './exit-status.js';
import { restoreTerminal } from './terminal.js';

const USAGE = `usage: xmhf <command> [options]

commands:
  run       boot a Linux guest on the x86-64 CPU with the serial console here
              --kernel FILE    a vmlinux (PVH) or bzImage; default: Debian's kernel
              --initrd FILE    an initramfs for --kernel
              --append ARGS    more kernel command-line arguments
              --mem SIZE       guest RAM, e.g. 256M (default) or 2G
              --exec CMD       run CMD in the default guest's shell, print its output,
                               exit with its status
              --timeout SECS   give up after SECS seconds of host time
              --callback-timeout SECS
                               end the run when a hypapp callback has not returned
                               after SECS seconds (default ${CALLBACK_TIMEOUT_MS / 1000})
              --hypapp REF     load a hypapp (repeatable, in order): a shipped one
                               (hello, syscalls, kguard), a .ts/.js file or a package
              --hypapp-opt NAME.KEY=VALUE
                               an option for hypapp NAME (repeatable)
              --hypapp-config FILE
                               hypapps and options from JSON:
                               {"hypapps":[{"hypapp":"hello","options":{}}]}
              --events FILE    write hypapps' JSON records to FILE (default: stderr)
  guest     fetch and prepare the default guest (Debian's kernel and busybox-static)
              into ~/.cache/xmhf-ts (XMHF_CACHE overrides); asks apt for the current
              kernel (run uses the one recorded here)
  --help    this text

${EXIT_STATUS_HELP}`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === 'run') {
    const { values } = parseArgs({
      args: rest,
      options: {
        kernel: { type: 'string' }, initrd: { type: 'string' }, append: { type: 'string' },
        mem: { type: 'string' }, exec: { type: 'string' }, timeout: { type: 'string' },
        hypapp: { type: 'string', multiple: true }, 'hypapp-opt': { type: 'string', multiple: true },
        'hypapp-config': { type: 'string' }, events: { type: 'string' }, 'callback-timeout': { type: 'string' },
      },
      strict: true,
    });
    const seconds = (flag: string, text: string | undefined) => {
      if (text === undefined) return undefined;
      const n = Number(text);
      if (!(n > 0)) throw new Error(`--${flag}: "${text}" is not a number of seconds`);
      return n * 1000;
    };
    const timeoutMs = seconds('timeout', values.timeout);
    const callbackTimeoutMs = seconds('callback-timeout', values['callback-timeout']);
    return runCommand({
      kernel: values.kernel, initrd: values.initrd, append: values.append, exec: values.exec,
      mem: parseSize(values.mem ?? '256M'),
      timeoutMs, callbackTimeoutMs,
      hypapps: values.hypapp, hypappOptions: values['hypapp-opt'], hypappConfig: values['hypapp-config'], events: values.events,
    });
  }
  if (cmd === 'guest') {
    const g = defaultGuest((line) => process.stderr.write(`xmhf: ${line}\n`), { refresh: true });
    process.stdout.write(`default guest ready in ${cacheDir()}: kernel ${g.version}, busybox ${g.busybox.length} bytes\n`);
    return 0;
  }
  process.stderr.write(`xmhf: unknown command "${cmd}"\n${USAGE}`);
  return 2;
}

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
  (e: Error) => { settled = true; process.stderr.write(`xmhf: ${e.message}\n`); process.exitCode = ExitStatus.USAGE; },
);
