// A SCRAM-SHA-256 verifier made on the client (RFC 5802/7677, as PostgreSQL stores it in pg_authid), so that
// `ALTER USER ... PASSWORD` sends the verifier and the password itself never reaches the server, where a failed
// statement would be written to the server log with its text. PostgreSQL SASLprep-normalizes passwords before
// hashing; for printable ASCII that is the identity, so only such passwords are hashed here (others: null).
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export const SCRAM_ITERATIONS = 4096; // PostgreSQL's default (scram_iterations)

export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): string | null {
  if (!/^[\x20-\x7e]+$/.test(password)) return null;
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
