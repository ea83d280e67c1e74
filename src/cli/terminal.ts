// The console's input side: standard input to the guest's serial port, raw
// on a terminal (Ctrl-] quits), Ctrl-D when piped input ends, and the
// terminal put back on every way out.

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
  let eofTimer: ReturnType<typeof setInterval> | undefined;
  const onEnd = () => {
    if (raw) return;
    const eof = () => toGuest(new Uint8Array([TTY_EOF]));
    eof();
    eofTimer = setInterval(eof, TTY_EOF_REPEAT_MS).unref();
  };
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.resume();
  let attached = true;
  return {
    detach() {
      if (!attached) return;
      attached = false;
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      clearInterval(eofTimer);
      restoreTerminal();
      stdin.pause();
    },
  };
}
