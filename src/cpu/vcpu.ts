// Several vCPUs over one guest memory: one vCPU is active at a time in the
// fixed STATE/CONTROL areas; the others wait in save slots. Guest RAM, the
// nested permissions and the decoded-code cache are shared; the TLB is
// per-vCPU and so is flushed on a switch.
import { STATE, STATE_SIZE, CONTROL, CPUID_TABLE, VCPU_SAVE, VCPU_SLOT, MAX_VCPUS } from './layout';
import { materializeFlags, discardLazyFlags } from './flags';
import { saveRunState, loadRunState, saveHvbpAt, loadHvbpAt } from './run';
import { saveEventState, loadEventState } from './events';
import { saveIoState, loadIoState } from './sysinsn';
import { cpuidCount, setCpuidCount, cpuidDefaults } from './cpuid';
import { tlbFlushAll } from './paging';
import { modeChanged } from './system';
import { debugRegistersChanged } from './debug';
import { resetAll } from './reset';
import { setSt64, st64, O_APIC_BASE } from './state';
import { setActivity } from './run';

const CONTROL_BYTES: usize = CPUID_TABLE + 64 * 24 - CONTROL; // control block, bitmaps, CPUID table
const O_CONTROL: usize = STATE_SIZE;
const O_SCALARS: usize = 0x7000;

let active: i32 = 0;
let count: i32 = 1;

function slot(i: i32): usize { return VCPU_SAVE + <usize>i * VCPU_SLOT; }

function save(i: i32): void {
  const p = slot(i);
  materializeFlags();
  memory.copy(p, STATE, STATE_SIZE);
  memory.copy(p + O_CONTROL, CONTROL, CONTROL_BYTES);
  saveRunState(p + O_SCALARS);
  saveEventState(p + O_SCALARS + 32);
  saveIoState(p + O_SCALARS + 64);
  store<i32>(p + O_SCALARS + 72, cpuidCount());
  saveHvbpAt(p + O_SCALARS + 80);
}

function restore(i: i32): void {
  const p = slot(i);
  discardLazyFlags();
  memory.copy(STATE, p, STATE_SIZE);
  memory.copy(CONTROL, p + O_CONTROL, CONTROL_BYTES);
  loadRunState(p + O_SCALARS);
  loadEventState(p + O_SCALARS + 32);
  loadIoState(p + O_SCALARS + 64);
  setCpuidCount(load<i32>(p + O_SCALARS + 72));
  loadHvbpAt(p + O_SCALARS + 80);
  tlbFlushAll();
  debugRegistersChanged();
  modeChanged();
}

/** Make vCPU `i` the active one. */
export function switchTo(i: i32): void {
  if (i == active || i < 0 || i >= count) return;
  save(active);
  restore(i);
  active = i;
}

/**
 * Create vCPUs 1..n-1 as application processors: reset, not the BSP, with
 * their own APIC ID, waiting for INIT/SIPI. vCPU 0 stays as it is.
 */
export function createVcpus(n: i32): bool {
  if (n < 1 || n > MAX_VCPUS) return false;
  switchTo(0);
  save(0);
  for (let i = 1; i < n; i++) {
    resetAll();
    cpuidDefaults(i);
    setSt64(O_APIC_BASE, st64(O_APIC_BASE) & ~0x100);
    setActivity(2); // wait for SIPI
    save(i);
  }
  count = n;
  restore(0);
  active = 0;
  return true;
}

