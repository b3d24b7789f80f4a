// SQL connections to the repository database server (node-postgres), with errors that say what to fix.
import pg from 'pg';
import { fromVersionNum, type PgVersion } from './version.js';

export interface PgConn {
  host: string;
  port: number;
  user: string;
  password?: string;
  /** Database to connect to; "postgres" when absent. */
  database?: string;
}

export interface DatabaseInfo {
  name: string;
  owner: string;
  encoding: string;
  /** null when the connecting role may not connect to the database. */
  sizeBytes: number | null;
}

// Rewrite a connection failure so that it names the server, the user and the likely fix.
export function explainConnectError(db: PgConn, err: unknown): Error {
  const e = err as { code?: string; message?: string };
  const where = `PostgreSQL at ${db.host}:${db.port} (user "${db.user}", database "${db.database ?? 'postgres'}")`;
  let fix = '';
  if (e.code === '28P01' || e.code === '28000') fix = ': check the password (or pg_hba.conf entry) for this user';
  else if (e.code === 'ECONNREFUSED') fix = ': nothing listens there; is the database service running and listen_addresses/port right?';
  else if (e.code === '3D000') fix = ': the database does not exist';
  else if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') fix = ': the host name does not resolve';
  else if (e.code === 'ETIMEDOUT') fix = ': connection timed out (firewall, or wrong host?)';
  const out = new Error(`cannot connect to ${where}: ${e.message ?? String(err)}${fix}`);
  (out as Error & { code?: string }).code = e.code;
  return out;
}

// Open a connection; the caller ends it.
export async function connect(db: PgConn, opts: { timeoutMs?: number; applicationName?: string } = {}): Promise<pg.Client> {
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password ?? '',
    database: db.database ?? 'postgres',
    connectionTimeoutMillis: opts.timeoutMs ?? 10_000,
    application_name: opts.applicationName ?? 'qsadmin',
  });
  client.on('error', () => {
    // a server-side disconnect (e.g. pg_terminate_backend) must not crash the process; the next query fails instead
  });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw explainConnectError(db, err);
  }
  return client;
}

// Run fn with a connection that is always closed afterwards.
export async function withClient<T>(db: PgConn, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(db);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

// The user databases of the server (no templates, no "postgres"), with owner, encoding and size.
export async function listDatabases(db: PgConn): Promise<DatabaseInfo[]> {
  return withClient(db, async (c) => {
    const r = await c.query<{ name: string; owner: string; encoding: string; size: string | null }>(
      `SELECT d.datname AS name, r.rolname AS owner, pg_encoding_to_char(d.encoding) AS encoding,
              CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END AS size
         FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
        WHERE NOT d.datistemplate AND d.datname <> 'postgres'
        ORDER BY d.datname`,
    );
    return r.rows.map((x) => ({ name: x.name, owner: x.owner, encoding: x.encoding, sizeBytes: x.size === null ? null : Number(x.size) }));
  });
}

// Version of the server: {version: '15.14', major: 15}.
export async function serverVersion(db: PgConn): Promise<PgVersion> {
  return withClient(db, async (c) => {
    const r = await c.query<{ server_version_num: string }>('SHOW server_version_num');
    return fromVersionNum(Number(r.rows[0].server_version_num));
  });
}

// Quote an SQL identifier ("ServerNodeConfigurations", "QSR").
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

// Quote an SQL string literal.
export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
