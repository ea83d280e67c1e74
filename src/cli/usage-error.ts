// Bad input on the command line or in a file it names: the command ends with
// status 2 and this one-line message (naming the flag and what was wrong).
export class UsageError extends Error {}

/** Exit status for bad input, as getopt-style tools use. */
export const USAGE_STATUS = 2;
