// One gdb connection: the GDB remote serial protocol's requests answered
// from a Target (stub.ts). Every request gets an answer ('' for what the
// stub does not support, "E.." for what fails), and no request, however
// malformed, throws out of here.
import { writeFileSync } from 'node:fs';
import { GuestPageFault, type GuestCpu } from '../hypapp/api.js';
import {
  PacketReader, framePacket, toHex, fromHex, hexNumber, ProtocolError, MAX_PACKET,
} from './packets.js';
import { REGISTERS, readRegisterHex, writeRegister, targetXml, G_PACKET_BYTES } from './registers.js';
import { SIGINT, type StopInfo, type Target } from './stub.js';

/** gdb's errno-style error replies. */
const E_FAULT = 'E0e';
const E_INVAL = 'E16';

export interface SessionIo {
  write(bytes: Uint8Array): void;
  /** gdb sent k: the VM is being stopped; close the connection. */
  close(): void;
  log(line: string): void;
}

export class GdbSession {
  private readonly reader = new PacketReader();
  private noAck = false;
  private lastSent: Uint8Array | undefined;
  /** Hg: the vCPU registers and memory are read through. */
  private regCpu = 0;
  /** Hc: the vCPU that continues or steps. */
  private runCpu = 0;
  /** monitor phys on: m/M/X address guest-physical memory. */
  private physical = false;
  /** A stop reply is owed (gdb resumed the guest and waits). */
  private waiting = false;
  /** The packet being answered is not acknowledged yet. */
  private ackPending = false;

  constructor(private readonly target: Target, private readonly io: SessionIo) {}

  /** Bytes from gdb. */
  receive(bytes: Uint8Array): void {
    for (const m of this.reader.push(bytes)) {
      switch (m.kind) {
        case 'interrupt':
          if (!this.target.stopped) this.target.interrupt(SIGINT);
          break;
        case 'nack':
          if (this.lastSent && !this.noAck) this.io.write(this.lastSent);
          break;
        case 'corrupt':
          if (!this.noAck) this.io.write(Uint8Array.of(0x2d));
          break;
        case 'packet': {
          // The acknowledgement goes out with the reply, in one write, when there is one at once.
          this.ackPending = !this.noAck;
          const reply = this.answer(Buffer.from(m.payload).toString('latin1'), m.payload);
          if (reply !== undefined) this.send(reply);
          if (this.ackPending) this.io.write(Uint8Array.of(0x2b));
          this.ackPending = false;
          break;
        }
        case 'ack':
          break;
      }
    }
  }

  /** The guest stopped: tell gdb if it is waiting for that. */
  stopped(s: StopInfo): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.send(stopReply(s));
  }

  /** The VM ended: gdb hears that the process exited. */
  exited(status: number): void {
    this.send(`W${(status & 0xff).toString(16).padStart(2, '0')}`);
  }

  private send(payload: string | Uint8Array): void {
    const bytes = framePacket(payload);
    this.lastSent = bytes;
    if (this.ackPending) {
      this.ackPending = false;
      this.io.write(Buffer.concat([Uint8Array.of(0x2b), bytes]));
    } else this.io.write(bytes);
  }

  /** The reply to one request; undefined when it comes later (a resume) or never (k). */
  private answer(text: string, raw: Uint8Array): string | undefined {
    try {
      return this.dispatch(text, raw);
    } catch (e) {
      if (e instanceof GuestPageFault) return E_FAULT;
      if (e instanceof ProtocolError || e instanceof RangeError || e instanceof TypeError) {
        this.io.log(`request "${text.slice(0, 40)}": ${e.message}`);
        return E_INVAL;
      }
      this.io.log(`request "${text.slice(0, 40)}" failed: ${e instanceof Error ? e.message : String(e)}`);
      return 'E01';
    }
  }

  private dispatch(text: string, raw: Uint8Array): string | undefined {
    const t = this.target;
    switch (text[0]) {
      case '?': return stopReply(t.lastStop);
      case 'g': return REGISTERS.map((_, n) => readRegisterHex(this.cpu(this.regCpu), n)).join('');
      case 'G': return this.writeAllRegisters(text.slice(1));
      case 'p': return readRegisterHex(this.cpu(this.regCpu), Number(hexNumber(text.slice(1))));
      case 'P': {
        const [n, value] = text.slice(1).split('=');
        writeRegister(this.cpu(this.regCpu), Number(hexNumber(n)), fromHex(value ?? ''));
        return 'OK';
      }
      case 'm': {
        const [addr, len] = text.slice(1).split(',');
        return toHex(this.readMemory(hexNumber(addr), Math.min(Number(hexNumber(len)), MAX_PACKET / 2)));
      }
      case 'M': {
        const [where, data] = text.slice(1).split(':');
        const [addr, len] = where.split(',');
        const bytes = fromHex(data ?? '');
        if (bytes.length !== Number(hexNumber(len))) throw new ProtocolError('M: the data is not the length given');
        this.writeMemory(hexNumber(addr), bytes);
        return 'OK';
      }
      case 'X': {
        const colon = raw.indexOf(0x3a);
        if (colon < 0) throw new ProtocolError('X: no data');
        const [addr, len] = text.slice(1, colon).split(',');
        const bytes = raw.slice(colon + 1);
        if (bytes.length !== Number(hexNumber(len))) throw new ProtocolError('X: the data is not the length given');
        if (bytes.length > 0) this.writeMemory(hexNumber(addr), bytes);
        return 'OK';
      }
      case 'Z': case 'z': return this.point(text[0] === 'Z', text.slice(1));
      case 'c': return this.resume('c', text.slice(1));
      case 's': return this.resume('s', text.slice(1));
      case 'C': return this.resume('c', '');
      case 'S': return this.resume('s', '');
      case 'H': {
        const cpu = this.thread(text.slice(2));
        if (text[1] === 'g') this.regCpu = cpu ?? 0;
        else if (text[1] === 'c') this.runCpu = cpu ?? 0;
        else throw new ProtocolError(`H${text[1]}: no such operation`);
        return 'OK';
      }
      case 'T': return this.thread(text.slice(1)) !== undefined ? 'OK' : 'E01';
      case 'D': t.detach(); return 'OK';
      case 'k': this.kill(); return undefined;
      case 'q': return this.query(text);
      case 'Q': return this.set(text);
      case 'v': return this.v(text);
      default: return '';
    }
  }

  private cpu(i: number): GuestCpu {
    const c = this.target.cpus[i];
    if (!c) throw new ProtocolError(`no vCPU ${i}`);
    return c;
  }

  /** A thread id (hex, -1 all, 0 any) as a vCPU index: -1 and 0 as undefined; throws for one that does not exist. */
  private thread(id: string): number | undefined {
    if (id === '-1' || id === '0') return undefined;
    const n = Number(hexNumber(id));
    if (n < 1 || n > this.target.cpus.length) throw new ProtocolError(`no thread ${id}`);
    return n - 1;
  }

  private writeAllRegisters(hex: string): string {
    const bytes = fromHex(hex);
    if (bytes.length !== G_PACKET_BYTES) throw new ProtocolError(`G: ${bytes.length} bytes, the registers are ${G_PACKET_BYTES}`);
    let at = 0;
    const cpu = this.cpu(this.regCpu);
    REGISTERS.forEach((r, n) => {
      const part = bytes.slice(at, at + r.bits / 8);
      at += r.bits / 8;
      // Read-only registers (selectors) are skipped when gdb writes back what it read.
      if (r.write && readRegisterHex(cpu, n) !== toHex(part)) writeRegister(cpu, n, part);
    });
    return 'OK';
  }

  private readMemory(addr: bigint, length: number): Uint8Array {
    if (this.physical) return this.target.x.readPhysical(addr, length);
    // Up to the first unmapped page: gdb takes a short read.
    const cpu = this.cpu(this.regCpu);
    const out: number[] = [];
    let a = addr;
    while (out.length < length) {
      const n = Math.min(length - out.length, 4096 - Number(a & 0xfffn));
      try { out.push(...cpu.readVirtual(a, n)); } catch (e) {
        if (out.length === 0) throw e;
        break;
      }
      a = BigInt.asUintN(64, a + BigInt(n));
    }
    return Uint8Array.from(out);
  }

  private writeMemory(addr: bigint, bytes: Uint8Array): void {
    if (this.physical) this.target.x.writePhysical(addr, bytes);
    else this.cpu(this.regCpu).writeVirtual(addr, bytes);
  }

  private point(insert: boolean, args: string): string {
    const [type, addrText, kindText] = args.split(/[,;]/);
    const addr = hexNumber(addrText);
    const kind = Number(hexNumber(kindText));
    const t = this.target;
    if (type === '0' || type === '1') {
      if (insert) t.addBreakpoint(type === '0' ? 0 : 1, addr); else t.removeBreakpoint(type === '0' ? 0 : 1, addr);
      return 'OK';
    }
    if (type === '2' || type === '3' || type === '4') {
      const z = Number(type) as 2 | 3 | 4;
      if (kind < 1 || kind > 4096) throw new ProtocolError(`watchpoint length ${kind}`);
      if (insert) t.addWatchpoint(z, addr, kind); else t.removeWatchpoint(z, addr, kind);
      return 'OK';
    }
    return '';
  }

  private resume(action: 'c' | 's', addr: string): undefined {
    const cpu = this.cpu(this.runCpu);
    if (addr) cpu.set('rip', hexNumber(addr));
    this.waiting = true;
    this.target.resume(action, this.runCpu);
    return undefined;
  }

  private kill(): void {
    this.target.detach();
    this.target.x.stopVm('killed by gdb (kill request)');
    this.io.close();
  }

  private query(text: string): string {
    const t = this.target;
    if (text.startsWith('qSupported')) {
      return `PacketSize=${MAX_PACKET.toString(16)};qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;vContSupported+`;
    }
    if (text.startsWith('qXfer:features:read:')) {
      const [annex, range] = text.slice('qXfer:features:read:'.length).split(':');
      if (annex !== 'target.xml') return 'E00';
      const [off, len] = (range ?? '').split(',');
      const xml = targetXml();
      const start = Number(hexNumber(off)), n = Number(hexNumber(len));
      const part = xml.slice(start, start + n);
      return (start + n >= xml.length ? 'l' : 'm') + part;
    }
    if (text === 'qAttached' || text.startsWith('qAttached:')) return '1';
    if (text === 'qC') return `QC${(this.runCpu + 1).toString(16)}`;
    if (text === 'qfThreadInfo') return `m${t.cpus.map((c) => (c.index + 1).toString(16)).join(',')}`;
    if (text === 'qsThreadInfo') return 'l';
    if (text.startsWith('qThreadExtraInfo,')) {
      const cpu = this.thread(text.slice('qThreadExtraInfo,'.length)) ?? 0;
      return toHex(Buffer.from(`vCPU ${cpu}`));
    }
    if (text.startsWith('qSymbol')) return 'OK';
    if (text.startsWith('qRcmd,')) return this.monitor(Buffer.from(fromHex(text.slice(6))).toString('utf8').trim());
    return '';
  }

  private set(text: string): string | undefined {
    if (text === 'QStartNoAckMode') {
      // The OK is still acknowledged; nothing after it.
      this.send('OK');
      this.noAck = true;
      return undefined;
    }
    return '';
  }

  private v(text: string): string | undefined {
    if (text === 'vCont?') return 'vCont;c;C;s;S';
    if (text.startsWith('vCont;')) {
      // All-stop: one resume for the machine; a step of some thread wins over continuing.
      let step: number | undefined;
      for (const [act, tid] of text.slice(6).split(';').map((a) => a.split(':'))) {
        if (!/^[cCsS]/.test(act)) throw new ProtocolError(`vCont action "${act}"`);
        const cpu = tid === undefined ? undefined : this.thread(tid);
        if ((act[0] === 's' || act[0] === 'S') && step === undefined) step = cpu ?? this.runCpu;
      }
      if (step !== undefined) this.runCpu = step;
      return this.resume(step !== undefined ? 's' : 'c', '');
    }
    if (text.startsWith('vKill')) { this.kill(); return 'OK'; }
    return '';
  }

  /** `monitor ...` commands. */
  private monitor(cmd: string): string {
    const out = (line: string) => this.send(`O${toHex(Buffer.from(`${line}\n`))}`);
    const [word, arg] = cmd.split(/\s+/);
    if (word === 'phys' && (arg === 'on' || arg === 'off')) {
      this.physical = arg === 'on';
      out(`memory accesses are ${this.physical ? 'guest-physical' : 'guest-virtual'}`);
      return 'OK';
    }
    if (word === 'sstep' && (arg === 'masked' || arg === 'unmasked')) {
      this.target.maskedSteps = arg === 'masked';
      out(`single-steps ${this.target.maskedSteps ? 'hold interrupts off and guest time still' : 'take interrupts, guest time runs'}`);
      return 'OK';
    }
    if (word === 'symbols' && arg) {
      const path = cmd.slice(cmd.indexOf(arg));
      try {
        const f = this.target.kernelSymbolFile();
        writeFileSync(path, f.bytes);
        out(`${f.count} kernel symbols written to ${path} (gdb: symbol-file ${path})`);
        return 'OK';
      } catch (e) {
        out(`no symbol file: ${e instanceof Error ? e.message : String(e)}`);
        return 'E01';
      }
    }
    out('monitor commands:\n  symbols FILE         write the running kernel\'s symbols (from its kallsyms) to FILE, an ELF file for symbol-file\n  phys on|off          m/M/X address guest-physical (on) or guest-virtual memory\n' +
      '  sstep masked|unmasked  single-steps without (default) or with interrupts and guest time');
    return word === 'help' || word === '' ? 'OK' : E_INVAL;
  }
}

/** T05thread:01;swbreak:; */
function stopReply(s: StopInfo): string {
  return `T${s.signal.toString(16).padStart(2, '0')}thread:${(s.cpu + 1).toString(16)};${s.reason ?? ''}`;
}
