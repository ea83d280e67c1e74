// The library's hypervisor breakpoints: one hypapp owns them (the core
// reports a breakpoint to the hypapp that set it), so the hypapp's
// onBreakpoint hands each event here and the handler that set it runs.
import type { HypappContext, BreakpointEvent } from 'xmhf-ts/hypapp';

export type BreakpointHandler = (e: BreakpointEvent) => void;

export class BreakpointRouter {
  private readonly handlers = new Map<number, BreakpointHandler>();

  constructor(private readonly x: HypappContext) {}

  /** Break before the instruction at kernel address `gva`; returns the id. */
  add(gva: bigint, handler: BreakpointHandler): number {
    const id = this.x.addBreakpoint(gva);
    this.handlers.set(id, handler);
    return id;
  }

  remove(id: number): void {
    if (!this.handlers.delete(id)) return;
    this.x.removeBreakpoint(id);
  }

  /** For the hypapp's onBreakpoint: runs the handler and says whether the breakpoint was the library's. */
  dispatch(e: BreakpointEvent): boolean {
    const h = this.handlers.get(e.id);
    if (!h) return false;
    h(e);
    return true;
  }
}
