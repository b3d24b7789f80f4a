#!/usr/bin/env node
// db upgrade benchmark on one emulated site with a dedicated PostgreSQL 12 server, in one run (these machines are
// shared and noisy: only the ratio to a baseline measured in the same run means anything):
//   (a) the plain procedure: stop the Qlik services, pg_dump -Fc each database one after another, pg_restore each
//       (one job, default commits) into a fresh PostgreSQL 14 cluster, roles first by pg_dumpall -g and psql, start the services; the 14 cluster is then
//       thrown away and the site is back on 12;
//   (b) `qsadmin db upgrade --engine native` (its verified backup first, then the upgrade proper).
// Service downtime: (a) from the first stop to QRS servicestate 2; (b) from the journal, the first db.stop step's
// start to the db.start servicestate step's finish (the backup's own short downtime is reported apart).
//
// Usage: npm run build && node scripts/bench-db-upgrade.js [--size large] [--dir /var/tmp/qsadmin-bench-dbu] [--keep]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const size = arg('size', 'large');
const work = path.resolve(arg('dir', '/var/tmp/qsadmin-bench-dbu'));
const keep = process.argv.includes('--keep');

const { createEmulatedSite, destroySite, startSite, stopSite } = await dist('src/emulator/site.js');
const { EmulatedHost } = await dist('src/host/emulated/index.js');
const { PgCluster } = await dist('src/postgres/cluster.js');
const { findPgBinDir } = await dist('src/postgres/bin.js');
const { userDatabases, rowCounts, countDifferences } = await dist('src/postgres/move.js');
const { pgDump, pgDumpall, pgRestore, psql } = await dist('src/postgres/tools.js');
const { withClient } = await dist('src/postgres/client.js');
const { postgres: pg12 } = await import('pg12');
const { postgres: pg14 } = await import('pg14');

await destroySite(path.join(work, 'site')).catch(() => undefined);
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true, mode: 0o755 });
fs.chmodSync(work, 0o755);
const t0 = Date.now();
const s = await createEmulatedSite({ dir: path.join(work, 'site'), size, portOffset: 51000, baseAddress: '127.0.0.220', databaseService: null, startServices: true, pgBinDir: path.dirname(pg12) });
console.error(`site (${size}) made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const conn = { host: s.site.database.host, port: s.site.database.port, user: 'postgres', password: s.superuserPassword, database: 'postgres' };
const dbs = await userDatabases(conn);
const bytes = await withClient(conn, async (c) => Number((await c.query('SELECT sum(pg_database_size(datname))::bigint AS b FROM pg_database')).rows[0].b));
const before = await rowCounts(conn, dbs);
const tools = await findPgBinDir({ serverMajor: 14 });
const qrsUp = async () => {
  const h = new EmulatedHost(s.site, s.site.nodes[0]);
  while ((await h.services.repositoryState()) !== 2) await new Promise((r) => setTimeout(r, 100));
};

// (a) plain dump and restore into the new major
const a0 = Date.now();
await stopSite(s.site, { database: false });
const fresh = new PgCluster({ dataDir: path.join(work, 'plain14', 'data'), port: conn.port + 2, host: conn.host, binDir: path.dirname(pg14), password: s.superuserPassword });
await fresh.init();
await fresh.start();
const dumps = path.join(work, 'plain-dumps');
fs.mkdirSync(dumps, { recursive: true });
const tool = { binDir: tools.dir, password: s.superuserPassword };
// roles first (the dumps grant to qliksenserepository); "role postgres already exists" is expected and ignored
await pgDumpall(tool, { host: conn.host, port: conn.port, user: 'postgres', globalsOnly: true, file: path.join(dumps, 'globals.sql') });
await psql(tool, { host: conn.host, port: fresh.port, user: 'postgres', db: 'postgres', file: path.join(dumps, 'globals.sql'), onErrorStop: false });
for (const db of dbs) {
  await pgDump(tool, { host: conn.host, port: conn.port, user: 'postgres', db, format: 'custom', file: path.join(dumps, `${db}.dump`) });
  // pg_restore -C of a pg_dump 15 archive fails on 14 (LOCALE_PROVIDER): the database is made first
  await withClient(fresh.conn(), async (c) => c.query(`CREATE DATABASE "${db}" TEMPLATE template0 ENCODING 'UTF8'`));
  await pgRestore(tool, { host: conn.host, port: fresh.port, user: 'postgres', db, file: path.join(dumps, `${db}.dump`), exitOnError: true });
}
const aMoved = Date.now();
await startSite(s.site);
await qrsUp();
const plain = { downtimeMs: Date.now() - a0, moveMs: aMoved - a0 };
console.error(`plain dump and restore: downtime ${(plain.downtimeMs / 1000).toFixed(1)} s`);
await fresh.destroy();
fs.rmSync(dumps, { recursive: true, force: true });

// (b) qsadmin db upgrade --engine native
const state = path.join(work, 'state');
const b0 = Date.now();
const r = spawnSync(process.execPath, [path.join(root, 'bin', 'run.js'), 'db', 'upgrade', '--site', s.siteFile, '--engine', 'native', '--new-bin-dir', path.dirname(pg14), '--backup-to', path.join(work, 'backups'), '--yes', '--json'], {
  env: { ...process.env, CI: 'true', NODE_ENV: 'production', QSADMIN_STATE_DIR: state, QSADMIN_DB_PASSWORD: s.superuserPassword, QSADMIN_CERT_PASSWORD: 'bench-db-upgrade-pfx' },
  encoding: 'utf8',
  maxBuffer: 1 << 28,
});
const wallMs = Date.now() - b0;
if (r.status !== 0) throw new Error(`db upgrade failed (${r.status}): ${r.stdout.slice(-3000)}${r.stderr.slice(-2000)}`);
const runId = JSON.parse(r.stdout).runId;
const journal = fs.readFileSync(path.join(state, 'runs', runId, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const at = (pred) => Date.parse(journal.find(pred).ts);
const down0 = at((e) => e.event === 'start' && /^db\.stop\./.test(e.step));
// the last start step's end (the servicestate wait is skipped when QRS is already at 2)
const down1 = Date.parse(journal.filter((e) => /^db\.start\./.test(e.step ?? '') && (e.event === 'finish' || e.event === 'skip')).at(-1).ts);
const backupDown = at((e) => e.event === 'finish' && e.step === 'backup.downtime.end') - at((e) => e.event === 'start' && e.step === 'backup.downtime.begin');
const diff = countDifferences(before, await rowCounts(conn, dbs));
const out = {
  size,
  databasesBytes: bytes,
  plainDumpRestore: plain,
  dbUpgradeNative: { wallMs, downtimeMs: down1 - down0, backupDowntimeMs: backupDown },
  ratioDowntime: Number(((down1 - down0) / plain.downtimeMs).toFixed(2)),
  rowCountsEqual: diff.length === 0,
};
console.log(JSON.stringify(out, null, 2));
if (!keep) await destroySite(path.join(work, 'site'));
