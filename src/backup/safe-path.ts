// The one rule for paths that come from a backup set (its manifest, a .tar's entries, a Qlik backup folder): a
// relative path of plain names joined by "/", which stays inside the folder it is joined to. Anything else is
// refused with the path named (exit 4: the set is not what it claims to be), before a byte is read or written.
import path from 'node:path';
import { VerificationError } from '../runbook/errors.js';

/**
 * Why a set-relative path is unsafe, or null when it is a plain relative path. Refused: empty, absolute (/x, C:\x,
 * \\server), "." or ".." segments, empty segments, backslashes, ":" (a drive or an NTFS stream), NUL, and names of
 * dots and spaces only (Windows strips trailing dots and spaces, so "..." and ".. " name the parent there).
 */
export function unsafePathReason(rel: string): string | null {
  if (typeof rel !== 'string' || rel === '') return 'an empty path';
  if (rel.includes('\0')) return 'a NUL character';
  if (rel.includes('\\')) return 'a backslash (a Windows path separator)';
  if (rel.includes(':')) return 'a ":" (a drive letter or an NTFS stream)';
  if (rel.startsWith('/')) return 'an absolute path';
  for (const seg of rel.split('/')) {
    if (seg === '') return 'an empty path segment';
    if (/^[. ]+$/.test(seg)) return `a "${seg}" segment`;
  }
  return null;
}

/** A set-relative path checked by the rule above; throws naming it and `what` it is. */
export function checkRelPath(rel: string, what = 'path'): string[] {
  const why = unsafePathReason(rel);
  if (why) throw new VerificationError(`${what} ${JSON.stringify(rel)} is refused: it has ${why}; a backup set's paths stay inside the set`, 'the set was altered or is not a qsadmin set: use another set (qsadmin backup list)');
  return rel.split('/');
}

/**
 * `root` joined with the set-relative `rel`, after checking that it stays inside `root` (also after the join's own
 * normalisation); throws a VerificationError naming both otherwise. Writers of a restore call this for every file.
 */
export function insideOrThrow(root: string, rel: string, what = 'path'): string {
  const parts = checkRelPath(rel, what);
  const p = path.join(root, ...parts);
  const back = path.relative(path.resolve(root), path.resolve(p));
  if (back === '' || back.startsWith('..') || path.isAbsolute(back)) {
    throw new VerificationError(`${what} ${JSON.stringify(rel)} leads outside ${root}`, 'the set was altered or is not a qsadmin set: use another set (qsadmin backup list)');
  }
  return p;
}
