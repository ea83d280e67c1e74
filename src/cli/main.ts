// xmhf command line.
const USAGE = `usage: xmhf <command>

commands:
  run       boot a guest (arrives with the PC platform; not available yet)
  --help    this text
`;

function main(argv: string[]): number {
  const [cmd] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === 'run') {
    process.stderr.write('xmhf run: booting a guest needs the PC platform and Linux loader, which are not built yet\n');
    return 2;
  }
  process.stderr.write(`xmhf: unknown command "${cmd}"\n${USAGE}`);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
