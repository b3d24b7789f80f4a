// Password files for the PostgreSQL client tools (libpq's pgpass format), written 0600.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface PgpassEntry {
  host: string;
  port: number | '*';
  /** Database name, or '*' (the default). */
  database?: string;
  user: string;
  password: string;
}

export const PGPASS_NAME = 'pgpass.conf';

// Escape a pgpass field (':' and '\' are special).
function field(v: string | number): string {
  return String(v).replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

// One pgpass line.
export function pgpassLine(e: PgpassEntry): string {
  if (/[\r\n]/.test(e.password)) throw new Error(`the password for ${e.user}@${e.host} contains a line break, which a pgpass file cannot hold`);
  return [e.host, e.port, e.database ?? '*', e.user, e.password].map(field).join(':');
}

// Write a pgpass file (mode 0600: libpq ignores group/world-readable ones) and return its path.
export async function writePgpass(dir: string, entries: PgpassEntry[], name = PGPASS_NAME): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  await writeFile(file, entries.map(pgpassLine).join('\n') + '\n', { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}
