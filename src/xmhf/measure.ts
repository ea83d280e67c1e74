// The measurement log of a launch: what ran in the VM, as SHA-256 digests
// chained into one register the way a TPM PCR is extended
// (pcr = SHA-256(pcr || digest)), so one value stands for the whole sequence.
import { createHash } from 'node:crypto';
import type { Measurement } from '../hypapp/api.js';

export class MeasurementLog {
  private readonly list: Measurement[] = [];
  private register = Buffer.alloc(32);

  extend(by: string, label: string, data: Uint8Array | string): Measurement {
    const digest = createHash('sha256').update(data).digest();
    this.register = createHash('sha256').update(this.register).update(digest).digest();
    const m = { by, label, sha256: digest.toString('hex') };
    this.list.push(m);
    return m;
  }

  get entries(): readonly Measurement[] { return this.list; }
  /** The chained value over every entry so far (64 hex digits). */
  get pcr(): string { return this.register.toString('hex'); }
}
