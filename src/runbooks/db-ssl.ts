// `qsadmin db harden --ssl`: SSL to the repository database needs QlikSenseUtil's Connection String Editor on every
// node (a GUI, guide §6.7 "Database traffic encryption"), so qsadmin does not fake it: it prints the guide's steps
// and checks the result on the server (ssl on, only hostssl lines loaded, the sessions of qliksenserepository encrypted).
import type pg from 'pg';
import { connect, type PgConn } from '../postgres/client.js';
import { databasePassword, superuserConn } from '../site/database.js';
import type { SiteConfig } from '../site/model.js';

export interface SslCheck {
  id: string;
  ok: boolean;
  detail: string;
}

export interface SslReport {
  steps: string[];
  checks: SslCheck[];
  ok: boolean;
}

/** The guide's manual steps (§6.7 "Database traffic encryption", steps 1-7), with the values it gives. */
export function sslSteps(site: SiteConfig): string[] {
  return [
    `1. Edit postgresql.conf of the repository database: listen_addresses = '*', port = ${site.database.port}, ssl = on, ssl_cert_file = 'server.pem', ssl_key_file = 'server_key.pem'`,
    '2. Add one line to pg_hba.conf, for the method in use: hostssl    all             all             all             scram-sha-256 (or md5)',
    '3. Remove every other line starting with host or hostssl from pg_hba.conf',
    '4. Copy server.pem and server_key.pem from %ProgramData%\\Qlik\\Sense\\Repository\\Exported Certificates\\.Local Certificates to the PostgreSQL data folder',
    '5. On the central node and every rim node: open C:\\Program Files\\Qlik\\Sense\\Repository\\Util\\QlikSenseUtil\\QlikSenseUtil.exe as an administrator, Connection String Editor',
    '6. Click Read to open the connection string of Repository.exe',
    "7. Add 'ssl Mode=Require;' to the QSR and QSMQ connection strings (TLS 1.2 only: also 'SSL TLS Protocol=1.2;') and save the value in the config file encrypted",
    '8. Restart the repository database service, then the Qlik services in order (qsadmin services stop --database; qsadmin services start)',
    'Note (guide §6.7, §8.14): the Qlik Sense installer cannot connect to a PostgreSQL with SSL: turn SSL off for an install or upgrade',
  ];
}

// One value of the server.
async function setting(c: pg.Client, name: string): Promise<string> {
  return (await c.query<{ setting: string }>('SELECT setting FROM pg_settings WHERE name = $1', [name])).rows[0]?.setting ?? '';
}

/** Check the result on the server: read-only. */
export async function checkDatabaseSsl(site: SiteConfig, interactive: boolean): Promise<SslReport> {
  const password = await databasePassword(site, interactive);
  const c = await connect(superuserConn(site, password) as PgConn, { applicationName: 'qsadmin db harden --ssl' });
  const checks: SslCheck[] = [];
  try {
    const ssl = await setting(c, 'ssl');
    checks.push({ id: 'ssl-on', ok: ssl === 'on', detail: `ssl = ${ssl || 'off'} (step 1)` });
    const rules = (await c.query<{ line_number: number; type: string }>("SELECT line_number, type FROM pg_hba_file_rules WHERE type <> 'local'")).rows;
    const plain = rules.filter((r) => r.type !== 'hostssl');
    checks.push({ id: 'hba-hostssl-only', ok: rules.length > 0 && plain.length === 0, detail: plain.length ? `pg_hba.conf lines that allow connections without SSL: ${plain.map((r) => `${r.line_number} (${r.type})`).join(', ')} (steps 2-3)` : `${rules.length} hostssl rule(s), no host rule (steps 2-3)` });
    const sessions = (await c.query<{ ssl: boolean; n: string }>("SELECT s.ssl, count(*) AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'qliksenserepository' GROUP BY s.ssl")).rows;
    const enc = Number(sessions.find((s) => s.ssl)?.n ?? 0);
    const clear = Number(sessions.find((s) => !s.ssl)?.n ?? 0);
    checks.push({ id: 'sessions-encrypted', ok: enc > 0 && clear === 0, detail: `sessions of qliksenserepository: ${enc} with SSL, ${clear} without (steps 5-7: the connection strings on every node)` });
  } finally {
    await c.end().catch(() => undefined);
  }
  return { steps: sslSteps(site), checks, ok: checks.every((k) => k.ok) };
}
