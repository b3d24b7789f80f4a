// What the commands whose runbooks start with a verified backup share (db upgrade, upgrade, patch): the backup's
// flags, the backup inputs (the set's id fixed now, so a resumed run completes the same set), and the inputs of a
// resumed run read back from its plan.
import path from 'node:path';
import { Flags } from '@oclif/core';
import type { BackupInputs } from '../runbooks/backup-create.js';

export const backupFirstFlags = {
  'backup-to': Flags.string({ description: 'folder for the verified backup made first [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR' }),
  'cert-password-env': Flags.string({ description: 'environment variable that holds the backup\'s PFX password', default: 'QSADMIN_CERT_PASSWORD' }),
  'stop-timeout': Flags.integer({ description: 'seconds to wait for each service to stop', default: 60 }),
};

/** The backup made first, from the flags. */
export async function backupFirstInputs(o: { sitePath: string; siteName: string; stateDir: string; toolVersion: string; flags: { 'backup-to'?: string; 'cert-password-env': string; 'stop-timeout': number } }): Promise<BackupInputs> {
  const { newBackupInputs } = await import('../runbooks/backup-create.js');
  return newBackupInputs({
    sitePath: o.sitePath,
    to: path.resolve(o.flags['backup-to'] ?? path.join(o.stateDir, 'backups', o.siteName)),
    certPasswordEnv: o.flags['cert-password-env'],
    stopTimeoutMs: o.flags['stop-timeout'] * 1000,
    toolVersion: o.toolVersion,
  });
}

/** The inputs of the run being resumed (--resume), else the ones `make` builds from the flags. */
export async function inputsOrResumed<T>(stateDir: string, resume: string | undefined, make: () => Promise<T>): Promise<T> {
  if (!resume) return make();
  const { readPlan } = await import('./runs.js');
  return readPlan(stateDir, resume).inputs as T;
}
