// Watches the guest's console as it flows past: keeps its last lines in a
// bounded buffer (shown when a guest dies before an --exec command starts)
// and recognises a kernel panic by the kernel's own words.

/** Console lines kept for a post-mortem. */
export const CONSOLE_TAIL_LINES = 30;
/** A line longer than this is cut (a guest printing without newlines must not grow the buffer). */
const MAX_LINE = 1000;
const PANIC_START = 'Kernel panic - not syncing';
/** The kernel's last panic line (printed when it does not reboot on panic). */
const PANIC_END = '---[ end Kernel panic';

export class ConsoleWatch {
  private readonly lines: string[] = [];
  private partial = '';
  private readonly decoder = new TextDecoder();
  /** The panic line ("Kernel panic - not syncing: ..."), once seen. */
  panic: string | undefined;
  /** The kernel finished printing its panic. */
  panicEnded = false;
  /** A line began with the marker (the default guest's readiness marker: its command started). */
  markerSeen = false;

  constructor(private readonly marker?: string) {}

  /** Feed console bytes; true when this chunk completed the panic line or the panic's end. */
  feed(bytes: Uint8Array): boolean {
    const before = [this.panic, this.panicEnded];
    this.partial += this.decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      this.line(this.partial.slice(0, nl).replace(/\r$/, ''));
      this.partial = this.partial.slice(nl + 1);
    }
    if (this.partial.length > MAX_LINE) { this.line(this.partial); this.partial = ''; }
    return this.panic !== before[0] || this.panicEnded !== before[1];
  }

  /** The last lines, the unfinished one included. */
  tail(): string[] {
    return this.partial ? [...this.lines, this.partial].slice(-CONSOLE_TAIL_LINES) : [...this.lines];
  }

  private line(text: string): void {
    this.lines.push(text.length > MAX_LINE ? text.slice(0, MAX_LINE) + '...' : text);
    if (this.lines.length > CONSOLE_TAIL_LINES) this.lines.shift();
    if (this.marker !== undefined && text.startsWith(this.marker)) this.markerSeen = true;
    const start = text.indexOf(PANIC_START);
    if (this.panic === undefined && start >= 0) this.panic = text.slice(start);
    else if (this.panic !== undefined && text.includes(PANIC_END)) this.panicEnded = true;
  }
}
