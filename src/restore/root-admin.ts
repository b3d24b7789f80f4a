// The guide's pre-restore guard (§5, §5.7): log in with an account that had the RootAdmin role at backup time, or
// after the restore nobody at the keyboard can administer the site in the QMC. The Users rows of the set's QSR dump
// say who that was; they are read without restoring anything.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readQsrTables, SetReader } from '../backup/app-catalog.js';
import { InputError } from '../runbook/errors.js';

/** "DOMAIN\\user" (or "user@domain") as QSR's UserDirectory and UserId. */
export function qlikUserOf(account: string): { userDirectory: string | null; userId: string } {
  if (account.includes('\\')) return { userDirectory: account.slice(0, account.indexOf('\\')), userId: account.slice(account.indexOf('\\') + 1) };
  if (account.includes('@')) return { userDirectory: account.slice(account.indexOf('@') + 1).split('.')[0], userId: account.slice(0, account.indexOf('@')) };
  return { userDirectory: null, userId: account };
}

/** The RootAdmins of a set, as DOMAIN\\user. */
export async function rootAdminsOfSet(setPath: string, binDir: string): Promise<string[]> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-rootadmin-'));
  try {
    const reader = await SetReader.open(setPath, scratch);
    try {
      const { Users } = await readQsrTables(reader, ['Users'], binDir);
      return Users.filter((u) => /(^|[^A-Za-z])RootAdmin([^A-Za-z]|$)/.test(u.Roles ?? '')).map((u) => `${u.UserDirectory}\\${u.UserId}`);
    } finally {
      reader.close();
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Refuse (exit 2) when the account qsadmin runs as was not a RootAdmin in the backup. */
export function requireFormerRootAdmin(account: string, rootAdmins: string[]): void {
  const me = qlikUserOf(account);
  const same = (a: string) => {
    const x = qlikUserOf(a);
    return x.userId.toLowerCase() === me.userId.toLowerCase() && (!me.userDirectory || !x.userDirectory || x.userDirectory.toLowerCase() === me.userDirectory.toLowerCase());
  };
  if (rootAdmins.some(same)) return;
  throw new InputError(
    `${account} had no RootAdmin role in the backup: after the restore it could not administer the site (guide §5.7: log in with an account that had RootAdmin at backup time)`,
    rootAdmins.length
      ? `run the restore as one of the backup's RootAdmins: ${rootAdmins.slice(0, 10).join(', ')}; or pass --skip-root-admin-check when such an account will log in afterwards`
      : 'the backup lists no RootAdmin at all; pass --skip-root-admin-check to restore anyway',
  );
}
