// The client-tool runners: argument lists, passwords only through the environment or a pgpass file, real
// pg_dump → pg_restore --list against a scratch cluster, and errors that carry the tool's stderr and database.
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPgBinDir } from '../src/postgres/bin.js';
import { connect } from '../src/postgres/client.js';
import { PgCluster } from '../src/postgres/cluster.js';
import {
  createdb, createdbArgs, dropdb, pgDump, pgDumpallArgs, pgDumpArgs, pgRestore, pgRestoreArgs, pgRestoreList, psql, psqlArgs,
  spawnPgDump, terminateConnections, writePgpass, PgToolError, type PgToolContext,
} from '../src/postgres/tools.js';

const PORTS: [number, number] = [15432, 15499];
const SECRET = 'S3cret:pa\\ss';
const target = { host: 'db.corp', port: 4432, user: 'postgres' };

describe('argument lists', () => {
  it('pg_dump: the guide\'s -b -F t form, custom with snapshot and compression, never a password', () => {
    expect(pgDumpArgs({ ...target, db: 'QSR', format: 'tar', file: 'c:\\QSR_backup.tar' })).toEqual([
      '-h', 'db.corp', '-p', '4432', '-U', 'postgres', '-w', '-F', 't', '-b', '-f', 'c:\\QSR_backup.tar', 'QSR',
    ]);
    expect(pgDumpArgs({ ...target, db: 'QSR', format: 'custom', snapshot: '00000003-1', compress: 0 })).toEqual([
      '-h', 'db.corp', '-p', '4432', '-U', 'postgres', '-w', '-F', 'c', '-b', '-Z', '0', '--snapshot=00000003-1', 'QSR',
    ]);
    expect(() => pgDumpArgs({ ...target, db: 'QSR', format: 'custom', jobs: 2, file: 'x' })).toThrow(/directory format/);
    expect(() => pgDumpArgs({ ...target, db: 'QSR', format: 'directory' })).toThrow(/output folder/);
  });

  it('pg_restore, createdb, dropdb, pg_dumpall, psql', () => {
    expect(pgRestoreArgs({ ...target, db: 'QSR', file: 'q.dump', jobs: 2, exitOnError: true })).toEqual([
      '-h', 'db.corp', '-p', '4432', '-U', 'postgres', '-w', '-d', 'QSR', '-j', '2', '-e', 'q.dump',
    ]);
    expect(createdbArgs({ ...target, db: 'SenseServices', owner: 'qliksenserepository' })).toEqual([
      '-h', 'db.corp', '-p', '4432', '-U', 'postgres', '-w', '-T', 'template0', '-E', 'UTF8', '-O', 'qliksenserepository', 'SenseServices',
    ]);
    expect(pgDumpallArgs({ ...target, noRolePasswords: true, file: 'globals.sql' })).toEqual([
      '-h', 'db.corp', '-p', '4432', '-U', 'postgres', '-w', '-g', '--no-role-passwords', '-f', 'globals.sql',
    ]);
    expect(psqlArgs({ ...target, db: 'postgres', command: 'SELECT 1' })).toContain('ON_ERROR_STOP=1');
    expect(() => psqlArgs({ ...target, db: 'postgres' })).toThrow(/script file or a command/);
  });
});

describe('secrets through a recording fake tool', () => {
  let dir: string;
  let ctx: PgToolContext;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'qsadmin-fake-pg-'));
    // a stand-in pg_dump/createdb that records its argv and the password-related environment
    const script = `#!/bin/sh
printf '%s\\n' "$@" > "$REC/argv"
printf '%s' "$PGPASSWORD" > "$REC/pgpassword"
printf '%s' "$PGPASSFILE" > "$REC/pgpassfile"
env > "$REC/env"
if [ "$FAIL" = 1 ]; then echo 'pg_dump: error: connection to server failed: FATAL:  password authentication failed for user "postgres"' >&2; exit 1; fi
printf 'DUMPDATA'
`;
    for (const tool of ['pg_dump', 'createdb']) {
      await writeFile(path.join(dir, tool), script);
      await chmod(path.join(dir, tool), 0o755);
    }
    ctx = { binDir: dir, password: SECRET, env: { REC: dir } };
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes the password in PGPASSWORD only, never in argv, and drops inherited PG* variables', async () => {
    process.env.PGDATABASE = 'leaked';
    try {
      await pgDump(ctx, { ...target, db: 'QSR', format: 'custom', file: path.join(dir, 'out.dump') });
    } finally {
      delete process.env.PGDATABASE;
    }
    const argv = await readFile(path.join(dir, 'argv'), 'utf8');
    expect(argv).not.toContain(SECRET);
    expect(argv.split('\n')).toContain('-w');
    expect(await readFile(path.join(dir, 'pgpassword'), 'utf8')).toBe(SECRET);
    expect(await readFile(path.join(dir, 'env'), 'utf8')).not.toMatch(/^PGDATABASE=/m);
  });

  it('uses a 0600 pgpass file instead when given one', async () => {
    const file = await writePgpass(path.join(dir, 'pgp'), [{ host: 'db.corp', port: 4432, user: 'postgres', password: SECRET }]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toBe('db.corp:4432:*:postgres:S3cret\\:pa\\\\ss\n');
    await createdb({ binDir: dir, pgpassFile: file, env: { REC: dir } }, { ...target, db: 'QSR' });
    expect(await readFile(path.join(dir, 'pgpassword'), 'utf8')).toBe('');
    expect(await readFile(path.join(dir, 'pgpassfile'), 'utf8')).toBe(file);
    expect(await readFile(path.join(dir, 'argv'), 'utf8')).not.toContain(SECRET);
  });

  it('streams pg_dump output and keeps the password out of argv', async () => {
    const s = spawnPgDump(ctx, { ...target, db: 'QSR', format: 'custom' });
    const chunks: Buffer[] = [];
    for await (const c of s.stdout) chunks.push(c as Buffer);
    await s.done;
    expect(Buffer.concat(chunks).toString()).toBe('DUMPDATA');
    expect(await readFile(path.join(dir, 'argv'), 'utf8')).not.toContain(SECRET);
  });

  it('a failing tool gives an error with its stderr and the database', async () => {
    const err = await pgDump({ ...ctx, env: { REC: dir, FAIL: '1' } }, { ...target, db: 'Licenses', format: 'custom', file: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(PgToolError);
    expect(err.message).toMatch(/^pg_dump of database "Licenses" at db\.corp:4432 failed \(exit 1: pg_dump: error: .*password authentication failed/);
    expect(err.db).toBe('Licenses');
    const s = spawnPgDump({ ...ctx, env: { REC: dir, FAIL: '1' } }, { ...target, db: 'QSMQ', format: 'custom' });
    s.stdout.resume();
    await expect(s.done).rejects.toThrow(/pg_dump of database "QSMQ".*password authentication failed/);
  });

  it('a missing tool names the bin folder', async () => {
    await expect(pgRestoreList({ binDir: dir }, 'x.dump')).rejects.toThrow(/pg_restore does not exist: check the PostgreSQL bin folder/);
  });
});

describe('against a real server', () => {
  let cluster: PgCluster;
  let ctx: PgToolContext;
  let work: string;

  beforeAll(async () => {
    cluster = await PgCluster.scratch({ portRange: PORTS });
    ctx = { binDir: (await findPgBinDir({ serverMajor: 15 })).dir, password: cluster.password };
    work = await mkdtemp(path.join(os.tmpdir(), 'qsadmin-dump-'));
  });
  afterAll(async () => {
    await cluster?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('createdb, psql, pg_dump custom → pg_restore --list → pg_restore', async () => {
    const t = { host: cluster.connectHost, port: cluster.port, user: cluster.superuser };
    await createdb(ctx, { ...t, db: 'QSR' });
    await psql(ctx, { ...t, db: 'QSR', command: 'CREATE TABLE "Apps" ("ID" uuid PRIMARY KEY, "Name" text); INSERT INTO "Apps" VALUES (gen_random_uuid(), \'a\')' });
    const file = path.join(work, 'QSR.dump');
    await pgDump(ctx, { ...t, db: 'QSR', format: 'custom', file });
    const toc = await pgRestoreList(ctx, file);
    expect(toc.count).toBeGreaterThan(0);
    expect(toc.entries.some((e) => e.includes('TABLE public Apps'))).toBe(true);

    const streamed = spawnPgDump(ctx, { ...t, db: 'QSR', format: 'custom' });
    const hash = createHash('sha256');
    for await (const c of streamed.stdout) hash.update(c as Buffer);
    await streamed.done;
    expect(hash.digest('hex')).toMatch(/^[0-9a-f]{64}$/);

    await createdb(ctx, { ...t, db: 'QSR_copy' });
    await pgRestore(ctx, { ...t, db: 'QSR_copy', file, exitOnError: true });
    const r = await psql(ctx, { ...t, db: 'QSR_copy', command: 'SELECT count(*) FROM "Apps"' });
    expect(r.stdout).toMatch(/\b1\b/);
  });

  it('a wrong password fails pg_dump clearly, naming the database', async () => {
    const t = { host: cluster.connectHost, port: cluster.port, user: cluster.superuser };
    await expect(pgDump({ ...ctx, password: 'wrong' }, { ...t, db: 'QSR', format: 'custom', file: path.join(work, 'x.dump') })).rejects.toThrow(
      /pg_dump of database "QSR" at 127\.0\.0\.1:\d+ failed \(exit 1: .*password authentication failed for user "postgres"/,
    );
  });

  it('terminateConnections ends other sessions on a database, then dropdb works', async () => {
    const t = { host: cluster.connectHost, port: cluster.port, user: cluster.superuser };
    const held = await connect(cluster.conn('QSR_copy'));
    try {
      expect(await terminateConnections(cluster.conn(), 'QSR_copy')).toBe(1);
    } finally {
      await held.end().catch(() => undefined);
    }
    await dropdb(ctx, { ...t, db: 'QSR_copy' });
    await dropdb(ctx, { ...t, db: 'QSR_copy', ifExists: true });
  });
});
