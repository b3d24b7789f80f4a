// How an emulated machine keeps an account's password: its sha256 only (the machine file never holds the password).
import crypto from 'node:crypto';

export function passwordDigestOf(password: string): string {
  return crypto.createHash('sha256').update(password, 'utf8').digest('hex');
}
