// Named failure points of the restore, for the tests of what a failed restore leaves: QSADMIN_FAULT=fail-at:<point>
// makes the step throw there, as a real failure would (the crash points that kill the process are in runbook/fault.ts).
// Off unless the variable is set.

export function failPoint(point: string): void {
  if (process.env.QSADMIN_FAULT === `fail-at:${point}`) throw new Error(`injected failure at ${point} (QSADMIN_FAULT)`);
}
