// Finding and ending what is left of an emulated node's processes (destroySite, failed creations).
import fs from 'node:fs';
import path from 'node:path';
import { isProcessAlive, listStates, processMarkers } from './state.js';

// Every live process started for a node: recorded in its state files, or carrying "--root <node root>" on its command line.
export function nodeProcesses(root: string): number[] {
  const pids = new Set<number>();
  for (const st of listStates(root)) if (isProcessAlive(st.pid, processMarkers(root, st.name))) pids.add(st.pid);
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [...pids];
  }
  for (const e of entries) {
    try {
      const args = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      const i = args.indexOf('--root');
      if (i >= 0 && args[i + 1] === root && Number(e) !== process.pid && isProcessAlive(Number(e))) pids.add(Number(e));
    } catch {
      // the process ended while we looked
    }
  }
  return [...pids];
}

// Kill the postmaster named in a data directory's postmaster.pid (immediate shutdown, then SIGKILL).
export async function killPostmaster(dataDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!isProcessAlive(pid)) return;
  signal(pid, 'SIGQUIT');
  for (let i = 0; i < 100 && isProcessAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (isProcessAlive(pid)) signal(pid, 'SIGKILL');
}

// Send a signal to a process that may already be gone.
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

