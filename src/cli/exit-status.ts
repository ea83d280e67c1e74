// The statuses `xmhf run` exits with, besides the guest command's own under --exec.
import { constants } from 'node:os';
import { USAGE_STATUS } from './usage-error.js';
export const ExitStatus = {
  /** The default guest stopped before its command finished (it reports no status). */
  NO_COMMAND_STATUS: 1,
  /** Bad usage or input: unknown flags, missing files, a hypapp that does not load or start. */
  USAGE: USAGE_STATUS,
  TRIPLE_FAULT: 3,
  /** The core ended the run: a hypapp's verdict or failure, a hypapp callback that did not return, an unhandled event. */
  HALTED_BY_CORE: 4,
  /** The guest kernel panicked ("Kernel panic - not syncing" on the console). */
  PANIC: 5,
  /** The guest halted with interrupts off and nothing that can wake it (e.g. `halt -f`). */
  GUEST_HALTED: 6,
  /** The run ended without a result (the VM's thread died, a promise never settled): an internal error. */
  INTERNAL: 70,
  TIMEOUT: 124,
  /** Plus the signal's number: 129 SIGHUP, 130 SIGINT, 143 SIGTERM (as shells report). */
  SIGNAL_BASE: 128,
  /** The reader of the output went away (`| head -1`): what a shell reports for a command SIGPIPE ended. */
  STDOUT_CLOSED: 128 + constants.signals.SIGPIPE,
} as const;

/** The lines of `xmhf --help` that list them. */
export const EXIT_STATUS_HELP = `exit status (run):
  the command's own status with --exec (0 without --exec when the guest powers off,
  reboots or the console is left with Ctrl-]); ${ExitStatus.NO_COMMAND_STATUS} the guest stopped before
  its command finished; ${ExitStatus.USAGE} bad usage or input, or a hypapp failed to load or start;
  ${ExitStatus.TRIPLE_FAULT} triple fault; ${ExitStatus.HALTED_BY_CORE} halted by the core (a hypapp's verdict or error, or a hypapp
  callback that did not return within --callback-timeout); ${ExitStatus.PANIC} guest kernel panic;
  ${ExitStatus.GUEST_HALTED} guest halted with interrupts off (nothing can wake it); ${ExitStatus.TIMEOUT} --timeout expired;
  ${ExitStatus.STDOUT_CLOSED} the reader of the output went away; ${ExitStatus.SIGNAL_BASE}+N ended by signal N (${ExitStatus.SIGNAL_BASE + constants.signals.SIGHUP} SIGHUP,
  ${ExitStatus.SIGNAL_BASE + constants.signals.SIGINT} SIGINT, ${ExitStatus.SIGNAL_BASE + constants.signals.SIGTERM} SIGTERM); ${ExitStatus.INTERNAL} internal error (the run ended without a result)
`;
