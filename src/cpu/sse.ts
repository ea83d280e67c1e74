// PLACEHOLDER until the SSE implementation lands (helper at work).
import { fault } from './fault';
export function execSse(op: i32): void { fault(6, -1); }
export function sseReset(): void {}
