// The console's input side: standard input to the guest's serial port, raw
// on a terminal (Ctrl-] quits), and the terminal put back on every way out.

/** Ctrl-]: leaves an interactive session, as in telnet. */
const ESCAPE = 0x1d;

export interface ConsoleInput {
  /** Stop reading and put the terminal back as it was (idempotent). */
  detach(): void;
}

let rawNow = false;
/** Put a raw terminal back (safe to call on any exit path, any number of times; a hung-up terminal is ignored). */
export function restoreTerminal(): void {
  if (!rawNow) return;
  rawNow = false;
  try { process.stdin.setRawMode(false); } catch { /* the terminal is gone (SIGHUP) */ }
}
process.on('exit', restoreTerminal);

export function attachConsoleInput(toGuest: (bytes: Uint8Array) => void, onEscape: () => void): ConsoleInput {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  if (raw) {
    stdin.setRawMode(true);
    rawNow = true;
    process.stderr.write('xmhf: serial console attached; press Ctrl-] to quit\r\n');
  }
  const onData = (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk);
    if (raw && bytes.includes(ESCAPE)) { onEscape(); return; }
    toGuest(bytes);
  };
  stdin.on('data', onData);
  stdin.resume();
  let attached = true;
  return {
    detach() {
      if (!attached) return;
      attached = false;
      stdin.off('data', onData);
      restoreTerminal();
      stdin.pause();
    },
  };
}
