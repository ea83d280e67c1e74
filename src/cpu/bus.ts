// The platform's devices, provided by TypeScript as WebAssembly imports and
// called synchronously while the guest runs (see PlatformBus).

// @ts-ignore: decorator
@external("env", "ioIn") export declare function ioIn(port: i32, size: i32): i32;
// @ts-ignore: decorator
@external("env", "ioOut") export declare function ioOut(port: i32, size: i32, value: i32): void;
// @ts-ignore: decorator
@external("env", "mmioRead") export declare function mmioRead(gpa: f64, size: i32): i32;
// @ts-ignore: decorator
@external("env", "mmioWrite") export declare function mmioWrite(gpa: f64, size: i32, value: i32): void;
// @ts-ignore: decorator
@external("env", "ackInterrupt") export declare function ackInterrupt(): i32;
// @ts-ignore: decorator
@external("env", "guestTsc") export declare function guestTsc(): f64;
