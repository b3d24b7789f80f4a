// The names of qsadmin's own working databases. A restore loads each database into "<DB>__qsadmin_restore", the swap
// keeps the replaced one as "<DB>__qsadmin_old", and the rollback hint renames a failed one "<DB>__qsadmin_failed".
// None of them is ever part of the site: backups do not dump them, restores do not restore them.

export const RESTORE_SUFFIX = '__qsadmin_restore';
export const OLD_SUFFIX = '__qsadmin_old';
export const FAILED_SUFFIX = '__qsadmin_failed';

/** The name a database is restored into before the swap. */
export function restoreName(db: string): string {
  return `${db}${RESTORE_SUFFIX}`;
}

/** The name the replaced database carries until the restore is verified. */
export function oldName(db: string): string {
  return `${db}${OLD_SUFFIX}`;
}

/** The name the rollback hint gives a restored database it moves out of the way. */
export function failedName(db: string): string {
  return `${db}${FAILED_SUFFIX}`;
}

/**
 * True for any name a qsadmin run made for its own work: the suffixes above and anything built on them
 * ("QSR__qsadmin_restore__qsadmin_restore" from an older version). "__qsadmin_" marks them all, so a suffix added
 * later is covered too.
 */
export function isWorkingDatabase(name: string): boolean {
  return name.includes('__qsadmin_');
}
