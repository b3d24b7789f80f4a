// The emulated repository databases: the guide's §2.5 role and grants, both ownership layouts, all 149 QSR
// tables with their exact names, and a seeded site readable by the repository role.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDatabases, withClient, type PgConn } from '../src/postgres/client.js';
import { PgCluster } from '../src/postgres/cluster.js';
import { QSR_TABLES, qsrCreateTableSql } from '../src/emulator/db/schema.js';
import { createRepositoryDatabases, REPOSITORY_ROLE, seedSite } from '../src/emulator/db/setup.js';

const PORTS: [number, number] = [15432, 15499];
const REPO_PASSWORD = "rep'o pass";
/** sha256 of reference/qsr-tables.txt's names joined by single spaces, in the file's order. */
const REFERENCE_TABLES_SHA256 = 'f1a727d3dabb8d3082c1c2db209390c2f7085caa06fdf02529f97ca8ea25cf08';
const REFERENCE_FILE = '/work/shared/reference/qsr-tables.txt';

let cluster: PgCluster;
let su: PgConn;
let repo: PgConn;

// Rows of one query on a database.
async function rows<T = Record<string, unknown>>(cfg: PgConn, sql: string, params: unknown[] = []): Promise<T[]> {
  return withClient(cfg, async (c) => (await c.query(sql, params)).rows as T[]);
}

beforeAll(async () => {
  cluster = await PgCluster.scratch({ portRange: PORTS });
  su = cluster.conn();
  repo = { ...cluster.conn('QSR'), user: REPOSITORY_ROLE, password: REPO_PASSWORD };
});
afterAll(async () => {
  await cluster?.destroy();
});

describe('QSR table list', () => {
  it('has the 149 names of reference/qsr-tables.txt, exact case, in order', () => {
    expect(QSR_TABLES).toHaveLength(149);
    expect(new Set(QSR_TABLES).size).toBe(149);
    expect(createHash('sha256').update(QSR_TABLES.join(' ')).digest('hex')).toBe(REFERENCE_TABLES_SHA256);
    if (existsSync(REFERENCE_FILE)) expect(QSR_TABLES).toEqual(readFileSync(REFERENCE_FILE, 'utf8').split(/\s+/).filter(Boolean));
  });

  it('quotes names and gives every table the common columns', () => {
    const sql = qsrCreateTableSql('ServerNodeConfigurations');
    expect(sql).toMatch(/^CREATE TABLE "ServerNodeConfigurations" \(\n  "ID" uuid PRIMARY KEY,\n  "CreatedDate" timestamp/);
    for (const col of ['"ModifiedDate"', '"ModifiedByUserName"', '"HostName"', '"IsCentral"', '"NodePurpose"', '"FailoverCandidate"']) expect(sql).toContain(col);
  });
});

describe("manual layout (guide §2.5: qliksenserepository owns all four)", () => {
  beforeAll(async () => {
    await createRepositoryDatabases(su, { layout: 'manual', repositoryPassword: REPO_PASSWORD });
  });

  it('creates the role with exactly the guide\'s options and grants it to postgres', async () => {
    const [r] = await rows(su, `SELECT rolcanlogin, rolinherit, rolsuper, rolcreatedb, rolcreaterole, rolreplication,
                                       rolvaliduntil = 'infinity' AS forever, rolpassword LIKE 'SCRAM-SHA-256$%' AS hashed
                                  FROM pg_authid WHERE rolname = $1`, [REPOSITORY_ROLE]);
    expect(r).toEqual({ rolcanlogin: true, rolinherit: false, rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, forever: true, hashed: true });
    const members = await rows(su, `SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = $1`, [REPOSITORY_ROLE]);
    expect(members).toEqual([{ rolname: 'postgres' }]);
  });

  it('creates four UTF8 databases owned by qliksenserepository', async () => {
    const dbs = await listDatabases(su);
    expect(dbs.map((d) => [d.name, d.owner, d.encoding])).toEqual([
      ['Licenses', REPOSITORY_ROLE, 'UTF8'], ['QSMQ', REPOSITORY_ROLE, 'UTF8'], ['QSR', REPOSITORY_ROLE, 'UTF8'], ['SenseServices', REPOSITORY_ROLE, 'UTF8'],
    ]);
  });

  it('grants as the guide does: CONNECT/TEMPORARY to PUBLIC, ALL to postgres, CREATE and the public schema to the role', async () => {
    for (const db of ['QSR', 'SenseServices', 'QSMQ', 'Licenses']) {
      const [g] = await rows(su, `SELECT has_database_privilege('public', $1, 'CONNECT') AS pc, has_database_privilege('public', $1, 'TEMPORARY') AS pt,
                                         has_database_privilege('public', $1, 'CREATE') AS pcr, has_database_privilege($2, $1, 'CREATE') AS rc`, [db, REPOSITORY_ROLE]);
      expect(g).toEqual({ pc: true, pt: true, pcr: false, rc: true });
      const [s] = await rows({ ...su, database: db }, `SELECT has_schema_privilege($1, 'public', 'CREATE') AS c, has_schema_privilege($1, 'public', 'USAGE') AS u`, [REPOSITORY_ROLE]);
      expect(s).toEqual({ c: true, u: true });
      const acl = await rows<{ datacl: string }>(su, `SELECT datacl::text FROM pg_database WHERE datname = $1`, [db]);
      expect(acl[0].datacl).toMatch(/postgres=CTc\//);
    }
  });

  it('QSR has all 149 tables, exact names, owned by qliksenserepository', async () => {
    const t = await rows<{ tablename: string; tableowner: string }>({ ...su, database: 'QSR' }, `SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'`);
    expect(t.map((x) => x.tablename).sort()).toEqual([...QSR_TABLES].sort());
    expect(new Set(t.map((x) => x.tableowner))).toEqual(new Set([REPOSITORY_ROLE]));
    const other = await rows<{ tableowner: string }>({ ...su, database: 'QSMQ' }, `SELECT tableowner FROM pg_tables WHERE schemaname = 'public'`);
    expect(other.length).toBeGreaterThan(0);
    expect(new Set(other.map((x) => x.tableowner))).toEqual(new Set([REPOSITORY_ROLE]));
  });

  it('refuses to run over existing databases', async () => {
    await expect(createRepositoryDatabases(su, { layout: 'manual', repositoryPassword: 'x' })).rejects.toThrow(/database "QSR", "SenseServices", "QSMQ", "Licenses" already exists on 127\.0\.0\.1:\d+: drop it first/);
  });

  afterAll(async () => {
    await withClient(su, async (c) => {
      for (const db of ['QSR', 'SenseServices', 'QSMQ', 'Licenses']) await c.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
    });
  });
});

describe('installer layout (QSR owned by postgres) with QLogs, and a seeded site', () => {
  beforeAll(async () => {
    await createRepositoryDatabases(su, { layout: 'installer', repositoryPassword: REPO_PASSWORD, withQLogs: true });
  });

  it('QSR and its tables belong to postgres, the other databases to qliksenserepository', async () => {
    const dbs = await listDatabases(su);
    expect(Object.fromEntries(dbs.map((d) => [d.name, d.owner]))).toEqual({
      QSR: 'postgres', SenseServices: REPOSITORY_ROLE, QSMQ: REPOSITORY_ROLE, Licenses: REPOSITORY_ROLE, QLogs: REPOSITORY_ROLE,
    });
    const owners = await rows<{ tableowner: string }>({ ...su, database: 'QSR' }, `SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'`);
    expect(owners).toEqual([{ tableowner: 'postgres' }]);
    const [opts] = await rows(su, `SELECT rolinherit, rolcanlogin FROM pg_roles WHERE rolname = $1`, [REPOSITORY_ROLE]);
    expect(opts).toEqual({ rolinherit: false, rolcanlogin: true });
  });

  it('seeds the site and the repository role reads and writes it', async () => {
    const seeded = await seedSite(su, {
      nodes: [{ hostname: 'qs-central.corp.example', isCentral: true }, { hostname: 'qs-rim1.corp.example', isCentral: false }],
      shareRoot: '\\\\fs01\\QlikShare', dbHost: 'qs-central.corp.example', dbPort: 4432,
      rootAdmin: { userDirectory: 'CORP', userId: 'qlikadmin' },
    });
    expect(Object.keys(seeded.nodeIds)).toEqual(['qs-central.corp.example', 'qs-rim1.corp.example']);
    expect(await rows(repo, `SELECT "HostName" FROM "LocalConfigs"`)).toEqual([{ HostName: 'qs-central.corp.example' }]);
    expect(await rows(repo, `SELECT "Name", "HostName", "IsCentral", "FailoverCandidate" FROM "ServerNodeConfigurations" ORDER BY "IsCentral" DESC`)).toEqual([
      { Name: 'Central', HostName: 'qs-central.corp.example', IsCentral: true, FailoverCandidate: true },
      { Name: 'qs-rim1.corp.example', HostName: 'qs-rim1.corp.example', IsCentral: false, FailoverCandidate: false },
    ]);
    expect(await rows(repo, `SELECT "RootFolder", "AppFolder", "StaticContentRootFolder", "ArchivedLogsRootFolder", "DatabaseHost", "DatabasePort"
                               FROM "ServiceClusterSettingsSharedPersistenceProperties"`)).toEqual([{
      RootFolder: '\\\\fs01\\QlikShare', AppFolder: '\\\\fs01\\QlikShare\\Apps', StaticContentRootFolder: '\\\\fs01\\QlikShare\\StaticContent',
      ArchivedLogsRootFolder: '\\\\fs01\\QlikShare\\ArchivedLogs', DatabaseHost: 'qs-central.corp.example', DatabasePort: 4432,
    }]);
    const cluster = await rows(repo, `SELECT sc."Name", p."ID" = $1 AS linked FROM "ServiceClusters" sc
                                        JOIN "ServiceClusterSettings" s ON s."ID" = sc."SettingsID"
                                        JOIN "ServiceClusterSettingsSharedPersistenceProperties" p ON p."ID" = s."SharedPersistencePropertiesID"`, [seeded.sharedPersistenceId]);
    expect(cluster).toEqual([{ Name: 'ServiceCluster', linked: true }]);
    const users = await rows<{ u: string }>(repo, `SELECT "UserDirectory" || '\\' || "UserId" AS u FROM "Users" ORDER BY 1`);
    expect(users.map((x) => x.u)).toEqual(expect.arrayContaining(['INTERNAL\\sa_repository', 'INTERNAL\\sa_api', 'CORP\\qlikadmin']));
    expect(await rows(repo, `SELECT "Name" FROM "SystemRules" WHERE "Name" = 'RootAdmin'`)).toHaveLength(1);
    expect((await rows(repo, `SELECT 1 FROM "MimeTypes"`)).length).toBeGreaterThan(5);
    expect((await rows(repo, `SELECT "Name" FROM "Streams" ORDER BY 1`)).map((s) => s.Name)).toEqual(['Everyone', 'Monitoring apps']);
    await rows(repo, `UPDATE "ServiceClusterSettingsSharedPersistenceProperties" SET "RootFolder" = '\\\\fs02\\QlikShare'`);
  });

  it('rejects a site without exactly one central node', async () => {
    await expect(seedSite(su, { nodes: [{ hostname: 'a', isCentral: false }], shareRoot: '/s', dbHost: 'a', dbPort: 4432 })).rejects.toThrow(/exactly one central node, got 0/);
  });
});
