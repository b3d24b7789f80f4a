// The emulated QRS's access to its repository database QSR (node-postgres pool), with the slow-database fault.
import pg from 'pg';
import type { RepositoryConnection } from './repository-config.js';

export interface ServerNodeRow {
  hostName: string;
  isCentral: boolean;
}

// Wait a while.
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Quote an identifier for SQL.
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export class Qsr {
  private readonly pool: pg.Pool;

  // A pool to the database of the connection string; slowMs delays every query (fault slowDatabaseMs).
  constructor(
    readonly conn: RepositoryConnection,
    private readonly slowMs = 0,
  ) {
    this.pool = new pg.Pool({
      host: conn.host,
      port: conn.port,
      user: conn.user,
      password: conn.password,
      database: conn.database,
      max: Math.min(conn.maxPoolSize, 10),
      connectionTimeoutMillis: 10_000,
      application_name: 'Qlik Sense Repository Service (emulated)',
    });
    this.pool.on('error', () => undefined); // an idle connection dropped by the server: the next query reports it
  }

  // Where the database is, for messages.
  get where(): string {
    return `${this.conn.database} at ${this.conn.host}:${this.conn.port} (user ${this.conn.user})`;
  }

  // Run a query.
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    if (this.slowMs > 0) await sleep(this.slowMs);
    const r = await this.pool.query<R>(sql, params);
    return r.rows;
  }

  // Run fn on one connection of the pool (a transaction's statements must share one).
  async withClient<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      return await fn(c);
    } finally {
      c.release();
    }
  }

  // Check that the database answers.
  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  // True when the table exists in QSR.
  async hasTable(table: string): Promise<boolean> {
    const rows = await this.query<{ n: string }>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $1`, [table]);
    return Number(rows[0].n) > 0;
  }

  // The nodes of the site as QSR knows them ("ServerNodeConfigurations").
  async serverNodes(): Promise<ServerNodeRow[]> {
    const rows = await this.query<{ HostName: string; IsCentral: boolean }>(`SELECT "HostName", "IsCentral" FROM "ServerNodeConfigurations"`);
    return rows.map((r) => ({ hostName: r.HostName, isCentral: Boolean(r.IsCentral) }));
  }

  // Hostnames in "LocalConfigs" (one row per node that has run QRS).
  async localConfigHostnames(): Promise<string[]> {
    if (!(await this.hasTable('LocalConfigs'))) return [];
    const rows = await this.query<{ HostName: string }>(`SELECT "HostName" FROM "LocalConfigs"`);
    return rows.map((r) => r.HostName);
  }

  // Close the pool.
  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
