// The guard of qsadmin's children (see children.ts): reads "+<pid>" / "-<pid>" lines on stdin, a pipe from qsadmin.
// When the pipe closes, qsadmin has exited or was killed: every child still registered is ended, with its whole
// process group (pg_dump, zstd, psql started in groups of their own), first politely, then for certain.
// A run that stops services also registers "R<base64 JSON>" (children.ts guardRecovery) until it ends ("r"): if the
// pipe closes before that, qsadmin died mid-run and the guard starts the services it had stopped (kill-recovery.ts,
// imported only then, so that the guard itself starts fast).
const live = new Set<number>();
let buffered = '';
let recovery: string | undefined;
let ending = false;

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    if (process.platform === 'win32') process.kill(pid, signal);
    else process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  const lines = buffered.split('\n');
  buffered = lines.pop() ?? '';
  for (const l of lines) {
    if (l[0] === 'R' || l === 'r') {
      recovery = l[0] === 'R' ? l.slice(1) : undefined;
      continue;
    }
    const pid = Number(l.slice(1));
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (l[0] === '+') live.add(pid);
    else if (l[0] === '-') live.delete(pid);
  }
});
process.stdin.on('error', () => undefined);
process.stdin.on('close', () => void end());

async function end(): Promise<void> {
  if (ending) return;
  ending = true;
  if (live.size) {
    for (const pid of live) kill(pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 2000));
    for (const pid of live) kill(pid, 'SIGKILL');
  }
  if (recovery) {
    try {
      const { recoverAfterKill } = await import('./kill-recovery.js');
      await recoverAfterKill(JSON.parse(Buffer.from(recovery, 'base64').toString('utf8')));
    } catch {
      // recoverAfterKill writes what went wrong into the run's log; the guard has nobody else to tell
    }
  }
  process.exit(0);
}
// Ctrl-C reaches only qsadmin's own group, not this one; should anything else signal it, it still does its job.
for (const s of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(s, () => process.stdin.destroy());
