// Creating the repository databases the way the guide's §2.5 script does (role, databases, grants), in either
// ownership layout: 'manual' (§2.5: qliksenserepository owns all four) or 'installer' (QSR owned by postgres).
import type pg from 'pg';
import { ident, literal, withClient, type PgConn } from '../../postgres/client.js';
import { OTHER_DB_SEED, REPOSITORY_DATABASES, REPOSITORY_ROLE, type RepositoryDatabase } from './databases.js';
import { databaseSchemaSql } from './schema.js';
import { inTransaction, runAll } from './sql.js';

export { REPOSITORY_ROLE } from './databases.js';
export { seedSite, type SeedNode, type SeedSiteOptions, type SeededSite } from './seed.js';

export type OwnershipLayout = 'manual' | 'installer';

export interface CreateRepositoryOptions {
  layout: OwnershipLayout;
  repositoryPassword: string;
  /** Also create QLogs, the centralized logging database of old sites (§5.3). */
  withQLogs?: boolean;
}

export interface CreatedDatabase {
  name: RepositoryDatabase;
  owner: string;
}

/** Role options exactly as the guide's §2.5 script gives them. */
export const REPOSITORY_ROLE_OPTIONS = "LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION VALID UNTIL 'infinity'";

// Owner of a database in a layout: the repository role, except QSR on an installer-made site.
export function databaseOwner(layout: OwnershipLayout, db: RepositoryDatabase, superuser: string): string {
  return layout === 'installer' && db === 'QSR' ? superuser : REPOSITORY_ROLE;
}

// The §2.5 role statements: create (or, when it exists, reset) the role, set its password, grant it to the superuser.
export function roleSql(exists: boolean, password: string, superuser: string): string[] {
  const role = ident(REPOSITORY_ROLE);
  return [
    `${exists ? 'ALTER' : 'CREATE'} ROLE ${role} WITH ${REPOSITORY_ROLE_OPTIONS}`,
    `ALTER ROLE ${role} WITH ENCRYPTED PASSWORD ${literal(password)}`,
    `GRANT ${role} TO ${ident(superuser)}`,
  ];
}

// The §2.5 statements for one database: UTF8 from template0, its owner, and the database-level grants.
// serverMajor >= 15 adds STRATEGY = FILE_COPY (same result, about 4x faster to create an empty database).
export function databaseSql(db: string, owner: string, superuser: string, serverMajor = 0): string[] {
  const d = ident(db);
  const strategy = serverMajor >= 15 ? ' STRATEGY = FILE_COPY' : '';
  return [
    `CREATE DATABASE ${d} ENCODING = 'UTF8' TEMPLATE = template0${strategy}`,
    `ALTER DATABASE ${d} OWNER TO ${ident(owner)}`,
    `GRANT TEMPORARY, CONNECT ON DATABASE ${d} TO PUBLIC`,
    `GRANT ALL ON DATABASE ${d} TO ${ident(superuser)}`,
    `GRANT CREATE ON DATABASE ${d} TO ${ident(REPOSITORY_ROLE)}`,
  ];
}

// Grants that let the repository role use objects another role owns (QSR on an installer-made site).
function foreignOwnerGrants(owner: string): string[] {
  const r = ident(REPOSITORY_ROLE);
  return [
    `GRANT ALL ON ALL TABLES IN SCHEMA public TO ${r}`,
    `GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${r}`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(owner)} IN SCHEMA public GRANT ALL ON TABLES TO ${r}`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(owner)} IN SCHEMA public GRANT ALL ON SEQUENCES TO ${r}`,
  ];
}

// Create the schema of one database, its objects owned by the database owner.
async function createSchema(c: pg.Client, db: RepositoryDatabase, owner: string): Promise<void> {
  await c.query(`GRANT ALL ON SCHEMA public TO ${ident(REPOSITORY_ROLE)}`);
  await inTransaction(c, () => runAll(c, [...databaseSchemaSql(db), ...(OTHER_DB_SEED[db] ?? [])]), owner);
  if (owner !== REPOSITORY_ROLE) await runAll(c, foreignOwnerGrants(owner));
}

// Create the repository role and databases (QSR, SenseServices, QSMQ, Licenses[, QLogs]) with their schemas.
export async function createRepositoryDatabases(cfg: PgConn, opts: CreateRepositoryOptions): Promise<CreatedDatabase[]> {
  const names: RepositoryDatabase[] = [...REPOSITORY_DATABASES, ...(opts.withQLogs ? (['QLogs'] as const) : [])];
  const created: CreatedDatabase[] = names.map((name) => ({ name, owner: databaseOwner(opts.layout, name, cfg.user) }));
  await withClient({ ...cfg, database: 'postgres' }, async (c) => {
    const taken = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names]);
    if (taken.rows.length) {
      throw new Error(`database ${taken.rows.map((r) => `"${r.datname}"`).join(', ')} already exists on ${cfg.host}:${cfg.port}: drop it first or use an empty server`);
    }
    const exists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [REPOSITORY_ROLE])).rows.length > 0;
    const major = (await c.query<{ major: number }>(`SELECT current_setting('server_version_num')::int / 10000 AS major`)).rows[0].major;
    await runAll(c, roleSql(exists, opts.repositoryPassword, cfg.user));
    for (const d of created) await runAll(c, databaseSql(d.name, d.owner, cfg.user, major));
  });
  for (const d of created) await withClient({ ...cfg, database: d.name }, (c) => createSchema(c, d.name, d.owner));
  return created;
}
