// Named crash points for the kill tests: QSADMIN_FAULT=kill-at:<point> makes the process SIGKILL itself when a step
// reaches that point, for windows too short for the runner's timed kill (QSADMIN_FAULT=kill:<step>:<ms>) to hit, such
// as between two renames. Off unless the variable is set.

export function faultPoint(point: string): void {
  if (process.env.QSADMIN_FAULT === `kill-at:${point}`) process.kill(process.pid, 'SIGKILL');
}
