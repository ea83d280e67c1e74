// The --exec output filter: of the default guest's serial output, only what
// the command prints (the lines between the ready and exit markers) goes on,
// and the exit marker's status is reported. Linear in the output: each byte
// is scanned once, and inside the command only a line's last few characters
// (which may still become the exit marker) are held back.
import { READY_MARKER, EXIT_MARKER } from '../guest/debian.js';

/** The exit marker ends a line; output the command left without a final newline comes before it. */
const EXIT_LINE = new RegExp(`${EXIT_MARKER} (\\d+)\\r?\\n$`);
/** The end of a partial line that may yet turn out to be (the start of) the exit marker line, its status and CR. */
const MAY_BE_EXIT = new RegExp(`(?:${EXIT_MARKER} ?\\d*\\r?|\\r)$`);
/** Longest tail MAY_BE_EXIT can match (statuses are 0-255): all the partial line it needs to look at. */
const EXIT_TAIL = EXIT_MARKER.length + 1 + 3 + 1;

export class ExecOutputFilter {
  /** The current line so far: before the command, all of it; inside it, only what may be the marker. */
  private line = '';
  private inCommand = false;
  private readonly decoder = new TextDecoder();

  constructor(
    /** Receives the command's output. */
    private readonly write: (text: string) => void,
    /** Called once the command has ended, with its exit status. */
    private readonly onExit: (status: number) => void,
  ) {}

  push(bytes: Uint8Array): void {
    const text = this.decoder.decode(bytes, { stream: true });
    let start = 0, nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      this.endLine(this.line + text.slice(start, nl + 1));
      this.line = '';
      start = nl + 1;
    }
    this.line += text.slice(start);
    if (this.inCommand) this.passPartialLine();
  }

  private endLine(line: string): void {
    // Only the line's tail can hold the exit marker's match; long lines are not scanned again.
    const tailAt = Math.max(0, line.length - EXIT_TAIL - 1);
    const exit = EXIT_LINE.exec(line.slice(tailAt));
    const exitAt = exit ? tailAt + exit.index : -1;
    if (exit && (this.inCommand || exitAt === 0)) {
      if (this.inCommand && exitAt > 0) this.write(line.slice(0, exitAt));
      this.inCommand = false;
      this.onExit(Number(exit[1]));
    }
    else if (this.inCommand) this.write(line.replace(/\r\n$/, '\n'));
    else if (line.startsWith(READY_MARKER)) this.inCommand = true;
  }

  /** Inside the command, pass on the partial line except a tail that may still become the exit marker or a CRLF. */
  private passPartialLine(): void {
    const tailAt = Math.max(0, this.line.length - EXIT_TAIL);
    const held = MAY_BE_EXIT.exec(this.line.slice(tailAt));
    let keep = held ? tailAt + held.index : this.line.length;
    // A proper prefix of the marker at the very end ("...XMHF-EX") must wait for the next bytes too.
    for (let n = Math.min(EXIT_MARKER.length - 1, this.line.length - tailAt); n > 0 && keep === this.line.length; n--) {
      if (this.line.endsWith(EXIT_MARKER.slice(0, n))) keep = this.line.length - n;
    }
    if (keep > 0) {
      this.write(this.line.slice(0, keep));
      this.line = this.line.slice(keep);
    }
  }
}
