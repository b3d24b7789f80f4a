// Temp folders of killed runs: a verify's unpacked set (qsadmin-verify-<pid>-*), a scratch PostgreSQL cluster
// (qsadmin-pg-<pid>-*, maybe with its server still running) and a load's plain dump (qsadmin-<pid>-<hex>-<db>.dump). The next run removes those whose owning process is gone;
// a folder of a live process, or one without an owner in its name, is left alone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TEMP_PREFIXES = ['qsadmin-verify-', 'qsadmin-pg-'];

/** The prefix of a temp folder owned by this process: `<prefix><pid>-` (mkdtemp adds the rest). */
export function ownedTempPrefix(prefix: string): string {
  return path.join(os.tmpdir(), `${prefix}${process.pid}-`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stop a scratch cluster's server left running in `root/data` (immediate shutdown: its data is thrown away). */
async function stopLeftoverServer(root: string): Promise<void> {
  const pidFile = path.join(root, 'data', 'postmaster.pid');
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return;
  // Only a postgres whose data folder is this one (where /proc tells): never signal an unrelated process.
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmd.includes(path.join(root, 'data'))) return;
  } catch {
    if (process.platform === 'linux') return;
  }
  process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Remove the temp folders of dead qsadmin processes; returns what was removed. */
export async function reapStaleTemp(dir = os.tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const prefix = TEMP_PREFIXES.find((p) => name.startsWith(p));
    // Besides the folders: the plain copy of a main archive that a load decompresses (db-load.ts).
    const owner = prefix ? /^(\d+)-/.exec(name.slice(prefix.length)) : /^qsadmin-(\d+)-[0-9a-f]{8}-[A-Za-z0-9_-]+\.dump$/.exec(name);
    if (!owner) continue;
    const pid = Number(owner[1]);
    if (pid === process.pid || alive(pid)) continue;
    const root = path.join(dir, name);
    await stopLeftoverServer(root);
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 2 });
    removed.push(root);
  }
  return removed;
}
