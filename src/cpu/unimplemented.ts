// Instructions this CPU does not implement. One whose instruction set CPUID
// does not advertise raises #UD, as on a processor without it; one CPUID
// advertises (the CPUID table says the guest may use it) cannot be emulated:
// the run stops with the reason instead of the guest taking a #UD it was told
// not to expect.
import { cpuidLookup, outB, outC } from './cpuid';
import { ud, emulationFailure } from './fault';
import { EmulationFailure, CpuFeature } from '../backend/abi';

/** Opcode map numbers of EmulationFailure.OPCODE (above the one-byte, 0F, 0F 38 and 0F 3A maps of D_OP). */
export const MAP_VEX = 4;

/** Whether the CPUID table advertises `feature`. */
function advertised(feature: i32): bool {
  if (feature == CpuFeature.RDSEED) { cpuidLookup(7, 0); return (outB & (1 << 18)) != 0; }
  cpuidLookup(1, 0);
  switch (feature) {
    case CpuFeature.SSE3: return (outC & 1) != 0;
    case CpuFeature.SSSE3_SSE4: return (outC & ((1 << 1) | (1 << 9) | (1 << 19) | (1 << 20) | (1 << 25))) != 0;
    case CpuFeature.MOVBE: return (outC & (1 << 22)) != 0;
    case CpuFeature.AVX: return (outC & (1 << 28)) != 0;
    case CpuFeature.RDRAND: return (outC & (1 << 30)) != 0;
    case CpuFeature.XSAVE: return (outC & (1 << 26)) != 0;
    default: return false;
  }
}

/** The instruction `opcode` (map << 8 | byte) of `feature` is not implemented: #UD, or an emulation failure if advertised. */
export function unimplemented(feature: i32, opcode: i32): void {
  if (advertised(feature)) emulationFailure(EmulationFailure.OPCODE, <i64>opcode, <i64>feature);
  else ud();
}
