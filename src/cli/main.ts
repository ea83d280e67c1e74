// xmhf command line.
import { parseArgs } from 'node:util';
import { runCommand, parseSize } from './run.js';
import { defaultGuest, cacheDir, guestInitramfs } from '../guest/debian.js';
import { prepareI386Guest } from '../guest/i386.js';

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
              --i386           instead, Debian's 32-bit kernels (686, 686-pae) and
                               busybox-static:i386 with an initramfs for them; prints
                               the --kernel and --initrd files (needs the i386
                               architecture: dpkg --add-architecture i386)
  --help    this text
`;

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
        'hypapp-config': { type: 'string' }, events: { type: 'string' },
      },
      strict: true,
    });
    const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
    if (timeout !== undefined && !(timeout > 0)) throw new Error(`--timeout: "${values.timeout}" is not a number of seconds`);
    return runCommand({
      kernel: values.kernel, initrd: values.initrd, append: values.append, exec: values.exec,
      mem: parseSize(values.mem ?? '256M'),
      timeoutMs: timeout === undefined ? undefined : timeout * 1000,
      hypapps: values.hypapp, hypappOptions: values['hypapp-opt'], hypappConfig: values['hypapp-config'], events: values.events,
    });
  }
  if (cmd === 'guest' && rest[0] === '--i386') {
    const g = prepareI386Guest((busybox) => guestInitramfs({ busybox }), (line) => process.stderr.write(`xmhf: ${line}\n`));
    process.stdout.write(`32-bit guest ready: xmhf run --kernel KERNEL --initrd ${g.initrd} [--mem 3G]\n` +
      Object.entries(g.kernels).map(([flavour, path]) => `  ${flavour}: --kernel ${path}\n`).join(''));
    return 0;
  }
  if (cmd === 'guest') {
    const g = defaultGuest((line) => process.stderr.write(`xmhf: ${line}\n`), { refresh: true });
    process.stdout.write(`default guest ready in ${cacheDir()}: kernel ${g.version}, busybox ${g.busybox.length} bytes\n`);
    return 0;
  }
  process.stderr.write(`xmhf: unknown command "${cmd}"\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (e: Error) => { process.stderr.write(`xmhf: ${e.message}\n`); process.exitCode = 2; },
);
