// Detached helper for the fault databaseGoesAwayAfterMs: after the delay, shut the database down at once (SIGQUIT to the postmaster).
import fs from 'node:fs';
import path from 'node:path';
import { updateState } from './state.js';

// Read a flag's value from argv.
function arg(flag: string): string {
  const i = process.argv.indexOf(flag);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`db-watchdog: missing ${flag}`);
  return process.argv[i + 1];
}

// Wait, then kill the postmaster named in postmaster.pid.
function main(): void {
  const root = arg('--root');
  const name = arg('--service');
  const dataDir = arg('--data');
  const after = Number(arg('--after'));
  setTimeout(() => {
    try {
      const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
      process.stdout.write(`${new Date().toISOString()} emulated fault databaseGoesAwayAfterMs: database postmaster ${pid} shut down after ${after} ms\n`);
    } catch (err) {
      process.stdout.write(`${new Date().toISOString()} db-watchdog: ${(err as Error).message}\n`);
    }
    updateState(root, name, { state: 'stopped', stoppedAt: new Date().toISOString() });
    process.exit(0);
  }, after);
}

main();
