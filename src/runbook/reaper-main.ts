// The guard of qsadmin's children (see children.ts): reads "+<pid>" / "-<pid>" lines on stdin, a pipe from qsadmin.
// When the pipe closes, qsadmin has exited or was killed: every child still registered is ended, with its whole
// process group (pg_dump, zstd, psql started in groups of their own), first politely, then for certain.
const live = new Set<number>();
let buffered = '';

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
    const pid = Number(l.slice(1));
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (l[0] === '+') live.add(pid);
    else if (l[0] === '-') live.delete(pid);
  }
});
process.stdin.on('error', () => undefined);
process.stdin.on('close', () => {
  if (!live.size) process.exit(0);
  for (const pid of live) kill(pid, 'SIGTERM');
  setTimeout(() => {
    for (const pid of live) kill(pid, 'SIGKILL');
    process.exit(0);
  }, 2000);
});
// Ctrl-C reaches only qsadmin's own group, not this one; should anything else signal it, it still does its job.
for (const s of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(s, () => process.stdin.destroy());
