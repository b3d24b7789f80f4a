// Running server programs as the unprivileged database account: initdb, pg_ctl and postgres refuse root.
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { childEnv } from '../runbook/children.js';

export interface OsIdentity {
  uid: number;
  gid: number;
  name: string;
}

const known = new Map<string, OsIdentity>();

// The account to run server programs as: the named user when we are root, otherwise ourselves (null).
export async function serverIdentity(osUser: string): Promise<OsIdentity | null> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const cached = known.get(osUser);
  if (cached) return cached;
  const uid = await execa('id', ['-u', osUser], { reject: false, env: childEnv(), extendEnv: false });
  const gid = await execa('id', ['-g', osUser], { reject: false, env: childEnv(), extendEnv: false });
  if (uid.exitCode !== 0 || gid.exitCode !== 0) {
    throw new Error(`PostgreSQL server programs refuse to run as root and there is no "${osUser}" account to run them as: create it (e.g. apt-get install postgresql) or pass osUser`);
  }
  const who = { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()), name: osUser };
  known.set(osUser, who);
  return who;
}

// Let the server account reach a directory: add search (o+x) on each ancestor that lacks it.
export async function ensureTraversable(dir: string): Promise<void> {
  let cur = path.dirname(path.resolve(dir));
  for (;;) {
    const st = await stat(cur);
    if ((st.mode & 0o001) === 0) await chmod(cur, (st.mode & 0o7777) | 0o001);
    const up = path.dirname(cur);
    if (up === cur) return;
    cur = up;
  }
}

// Create a directory (and parents, 0755) that the server account owns with mode 0700.
export async function makeOwnedDir(dir: string, who: OsIdentity | null): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (who) {
    await ensureTraversable(dir);
    await chown(dir, who.uid, who.gid);
  }
  await chmod(dir, 0o700);
}

// Environment for server programs: PATH and locale only, so no PG* variable of ours leaks in.
export function serverEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };
}
