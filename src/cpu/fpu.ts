// PLACEHOLDER until the x87 implementation lands (helper at work).
import { fault } from './fault';
export function execX87(op: i32): void { fault(6, -1); }
export function fwait(): void {}
export function fpuReset(): void {}
export function fxsaveX87(la: i64): void {}
export function fxrstorX87(la: i64): void {}
