// Backups of emulated sites through the real CLI: create, verify (--deep), corruption, incremental links, prune,
// SIGKILL during the dumps and resume, and the refusals that leave the site running.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { mutateApps } from '../src/emulator/db/generate.js';
import { withClient } from '../src/postgres/client.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { qsadmin } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { destroySites, editSite, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'backup-test-pfx-password';

let site: EmulatedSite;
let stateDir: string;
let target: string;

function env(extra: Record<string, string> = {}) {
  return { QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD, ...extra };
}

// Every table of the tiny site counts as big here, so that table archives (and their reuse) are exercised.
async function backup(args: string[] = [], extraEnv: Record<string, string> = {}) {
  const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target, '--json', '--table-archive-min-size', '1', ...args], { env: env(extraEnv) });
  return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

async function allRunning(s: EmulatedSite): Promise<boolean> {
  for (const n of s.site.nodes) {
    const list = await new EmulatedHost(s.site, n).services.list();
    if (list.some((x) => x.state !== 'running')) return false;
  }
  return true;
}

function copySet(from: string): string {
  const to = path.join(tempDir(), path.basename(from));
  fs.cpSync(from, to, { recursive: true });
  return to;
}

function flipByte(file: string): void {
  fs.chmodSync(file, 0o644);
  const b = fs.readFileSync(file);
  b[Math.floor(b.length / 2)] ^= 0xff;
  fs.writeFileSync(file, b);
}

beforeAll(async () => {
  stateDir = tempDir();
  target = tempDir();
  site = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 40000, baseAddress: '127.0.0.100', shareOutside: true, startServices: true });
});

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('backup create / verify', () => {
  let first: string;

  it('backs up every database, the share (with a folder outside the root), logs, configs and certificates', async () => {
    const r = await backup();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.status).toBe('succeeded');
    first = r.json.outputs.backup.dir;
    const m = JSON.parse(fs.readFileSync(path.join(first, 'manifest.json'), 'utf8'));
    expect(m.databases.filter((d: { dumped: boolean }) => d.dumped).map((d: { name: string }) => d.name).sort()).toEqual(['Licenses', 'QSMQ', 'QSR', 'SenseServices']);
    for (const d of m.databases) expect(d.owner).toBe('qliksenserepository'); // the guide's manual layout (§2.5)
    expect(m.site.share.map((s: { role: string }) => s.role)).toEqual(['RootFolder', 'ArchivedLogsRootFolder']);
    const kinds = new Set(m.files.map((f: { kind: string }) => f.kind));
    for (const k of ['db', 'globals', 'share', 'share-outside', 'log', 'cert', 'config']) expect(kinds, k).toContain(k);
    expect(m.files.some((f: { path: string }) => f.path === 'config/central/Host.cfg')).toBe(true);
    expect(m.files.filter((f: { kind: string }) => f.kind === 'cert').map((f: { path: string }) => path.basename(f.path))).toEqual(
      expect.arrayContaining(['root.pfx', 'root-currentuser.pfx', 'server.pfx', 'client.pfx', 'QlikServiceCluster.pfx']),
    );
    expect(m.downtimeMs).toBeGreaterThan(0);
    expect(m.databases.find((d: { name: string }) => d.name === 'QSR').rowCounts['public.ServerNodeConfigurations']).toBe(1);
    expect(await allRunning(site)).toBe(true);
    // passwords never reach the run's files or the JSON result
    const runDir = path.join(stateDir, 'runs', r.json.runId);
    const dbPassword = site.superuserPassword;
    for (const f of ['plan.json', 'journal.jsonl', 'run.log', 'outputs.json']) {
      const text = fs.readFileSync(path.join(runDir, f), 'utf8');
      expect(text).not.toContain(dbPassword);
      expect(text).not.toContain(CERT_PASSWORD);
    }
    expect(r.stdout).not.toContain(dbPassword);
  });

  it('verifies deep: restores every dump into a scratch cluster and compares row counts', async () => {
    const r = await qsadmin(['backup', 'verify', first, '--deep', '--json'], { env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(true);
    expect(j.level).toBe('deep');
    expect(j.rowCountsCompared).toBeGreaterThan(150);
  });

  it('fails verification with exit 4 naming the file when one byte changes (share file, dump, certificate)', async () => {
    const m = JSON.parse(fs.readFileSync(path.join(first, 'manifest.json'), 'utf8'));
    const pick = (kind: string) => m.files.find((f: { kind: string; bytes: number }) => f.kind === kind && f.bytes > 16).path as string;
    for (const rel of [pick('share'), pick('db'), pick('cert')]) {
      const copy = copySet(first);
      flipByte(path.join(copy, ...rel.split('/')));
      const r = await qsadmin(['backup', 'verify', copy], { env: env() });
      expect(r.exitCode, rel).toBe(4);
      expect(r.stderr).toContain(rel);
    }
  });

  it('links unchanged files from the last verified set and writes changed ones again', async () => {
    const appsDir = path.join(site.site.shareRoot, 'Apps');
    const changed = await mutateApps(appsDir, 0.3, 7);
    expect(changed.files.length).toBeGreaterThan(0);
    // change one row of one table that has an archive of its own
    const m1 = JSON.parse(fs.readFileSync(path.join(first, 'manifest.json'), 'utf8'));
    const qsrCounts = m1.databases.find((d: { name: string }) => d.name === 'QSR').rowCounts;
    const tableFiles = m1.files.filter((f: { database: string; table?: unknown }) => f.database === 'QSR' && f.table);
    expect(tableFiles.length).toBe(8);
    const touched = tableFiles.find((f: { table: { schema: string; name: string } }) => qsrCounts[`${f.table.schema}.${f.table.name}`] > 0).table.name as string;
    const db = site.site.database;
    await withClient({ host: db.host, port: db.port, user: db.superuser, password: site.superuserPassword, database: 'QSR' }, (c) =>
      c.query(`UPDATE "${touched}" SET "ID" = "ID" WHERE ctid = (SELECT ctid FROM "${touched}" LIMIT 1)`),
    );
    const r = await backup();
    expect(r.exitCode, r.stderr).toBe(0);
    const second = r.json.outputs.backup.dir;
    const m = JSON.parse(fs.readFileSync(path.join(second, 'manifest.json'), 'utf8'));
    expect(m.base).toBe(path.basename(first));
    const apps = m.files.filter((f: { path: string }) => f.path.startsWith('files/share/Apps/'));
    const changedNames = new Set(changed.files.map((f) => path.basename(f)));
    for (const f of apps) {
      const reused = !!f.reused;
      expect(reused, f.path).toBe(!changedNames.has(path.basename(f.path)));
      const ino = (p: string) => fs.statSync(path.join(p, ...f.path.split('/'))).ino;
      if (reused) expect(ino(second)).toBe(ino(first));
    }
    // the changed table's archive was dumped again, unchanged tables' archives were linked
    const tables = m.files.filter((f: { database: string; table?: unknown }) => f.database === 'QSR' && f.table);
    expect(tables.find((f: { table: { name: string } }) => f.table.name === touched).reused).toBeFalsy();
    const linked = tables.filter((f: { reused?: boolean }) => f.reused);
    expect(linked.length).toBeGreaterThan(0);
    for (const f of linked) expect(fs.statSync(path.join(second, ...f.path.split('/'))).ino).toBe(fs.statSync(path.join(first, ...f.path.split('/'))).ino);
    const v = await qsadmin(['backup', 'verify', second, '--deep'], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);

    // prune the first set: the second still verifies (hard links keep shared files alive)
    const p = await qsadmin(['backup', 'prune', '--to', target, '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0', '--keep-last', '1', '--json'], { env: env() });
    expect(p.exitCode, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout).removed).toEqual([path.basename(first)]);
    expect(fs.existsSync(first)).toBe(false);
    const v2 = await qsadmin(['backup', 'verify', second], { env: env() });
    expect(v2.exitCode, v2.stderr).toBe(0);
  });

  it('resumes a backup killed with SIGKILL during the dumps into a complete, verified set with services running', async () => {
    // Die as soon as the first archive is on disk (the dumps run at once: a timed kill could miss them).
    const r = await backup([], { QSADMIN_FAULT: 'kill-at:backup.db.archive-written' });
    expect(r.exitCode).not.toBe(0); // killed
    const runId = newestRun(stateDir, 'backup-create');
    const journal = fs.readFileSync(path.join(stateDir, 'runs', runId, 'journal.jsonl'), 'utf8');
    expect(journal).toContain('"event":"start","step":"backup.db.dump.QSR"');
    expect(journal).not.toContain('"event":"finish","step":"backup.db.dump.QSR"');
    const list = await qsadmin(['backup', 'list', '--to', target, '--json', '--site', site.siteFile], { env: env() });
    expect(JSON.parse(list.stdout).backups.some((b: { complete: boolean }) => !b.complete)).toBe(true);

    const resumed = await qsadmin(['runs', 'resume', runId, '--json'], { env: env() });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const j = JSON.parse(resumed.stdout);
    expect(j.status).toBe('succeeded');
    // the snapshots died with the process: the resumed run captured again, with the services stopped again
    expect(j.steps.find((s: { id: string }) => s.id === 'backup.capture.databases').status).toBe('succeeded');
    const dir = j.outputs.backup.dir;
    const v = await qsadmin(['backup', 'verify', dir, '--deep'], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
    expect(await allRunning(site)).toBe(true);
  });

  it('killed while the services were down: the guard starts them again at once, then a resume completes the set', async () => {
    const r = await backup([], { QSADMIN_FAULT: 'kill:backup.capture.databases:0' });
    expect(r.exitCode).not.toBe(0);
    const runId = newestRun(stateDir, 'backup-create');
    const runDir = path.join(stateDir, 'runs', runId);
    // qsadmin's guard process saw it die with the services stopped: it starts them, in order, and says so
    const deadline = Date.now() + 90_000;
    while (!(await allRunning(site)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 250));
    expect(await allRunning(site)).toBe(true);
    const guardLine = async () => fs.readFileSync(path.join(runDir, 'journal.jsonl'), 'utf8').split('\n').find((l) => l.includes('"guard-start"'));
    while (!(await guardLine()) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    const started = JSON.parse((await guardLine())!).services as string[];
    expect(started[0]).toBe('central/QlikSenseServiceDispatcher'); // the guide's order: QSD first
    expect(started).toContain('central/QlikSenseRepositoryService');
    expect(fs.readFileSync(path.join(runDir, 'run.log'), 'utf8')).toContain(`guard: qsadmin died mid-run with services stopped`);
    const list = await qsadmin(['runs', 'list', '--json'], { env: env() });
    expect(JSON.parse(list.stdout).runs.find((x: { runId: string }) => x.runId === runId).status).toBe('interrupted');

    const resumed = await qsadmin(['runs', 'resume', runId, '--json'], { env: env() });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const j = JSON.parse(resumed.stdout);
    // the capture died with the process: the resume stopped the services again and captured again
    expect(j.steps.find((s: { id: string }) => s.id === 'backup.capture.databases').status).toBe('succeeded');
    expect(await allRunning(site)).toBe(true);
    const v = await qsadmin(['backup', 'verify', j.outputs.backup.dir], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
  }, 180_000);
});

describe('backup refusals leave the site running', () => {
  it('refuses a target that is not writable or is a file (exit 2)', async () => {
    const file = path.join(tempDir(), 'not-a-dir');
    fs.writeFileSync(file, '');
    const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', file], { env: env() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/not-a-dir/);
    expect(await allRunning(site)).toBe(true);
  });

  it('refuses a wrong database password (exit 2) naming the server', async () => {
    const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target], { env: env({ QSADMIN_DB_PASSWORD: 'wrong-password' }) });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${site.site.database.host}:${site.site.database.port}`);
    expect(r.stderr).toMatch(/password/);
    expect(await allRunning(site)).toBe(true);
  });

  it('refuses without a certificate password, naming the variable (exit 2)', async () => {
    const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target], { env: { QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: '' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('QSADMIN_CERT_PASSWORD');
  });

  it('fails the run when a service will not stop in time, and starts the others again', async () => {
    editSite(site, (s) => ((s.emulator as { faults: Record<string, unknown> }).faults = { hangOnStop: ['QlikSenseEngineService'] }));
    // the fault applies to a service process started after it was configured
    let r = await qsadmin(['services', 'stop', '--site', site.siteFile, '--service', 'QES'], { env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    r = await qsadmin(['services', 'start', '--site', site.siteFile, '--service', 'QES'], { env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const b = await backup(['--stop-timeout', '2']);
    expect(b.exitCode).toBe(1);
    expect(b.json.error.message).toMatch(/did not stop within/);
    expect(b.json.steps.find((s: { id: string }) => s.id === 'backup.start.central.QRS').status).toMatch(/succeeded|skipped/);
    // every other service is running again; the hung one stays "stop pending", as Windows leaves it
    const list = await new EmulatedHost(site.site, site.site.nodes[0]).services.list();
    for (const x of list) expect(x.state, x.name).toBe(x.name === 'QlikSenseEngineService' ? 'stop_pending' : 'running');
    expect(b.json.steps.find((s: { id: string }) => s.id === 'backup.manifest').status).toBe('not-run');
  });
});

describe('backup of a three-node, installer-made site whose database runs as postgresql-x64-14', () => {
  it('stops rims first, starts central first, dumps QSR owned by postgres, and verifies deep', async () => {
    const s3 = await makeSite({ nodes: 3, layout: 'installer', databaseService: 'postgresql-x64-14', size: 'tiny', portOffset: 41000, baseAddress: '127.0.0.110', startServices: true });
    const t3 = tempDir();
    const r = await qsadmin(['backup', 'create', '--site', s3.siteFile, '--to', t3, '--json', '--no-logs'], { env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const ids: string[] = j.steps.map((x: { id: string }) => x.id);
    const firstStop = (n: string) => ids.findIndex((i) => i.startsWith(`backup.stop.${n}.`));
    const firstStart = (n: string) => ids.findIndex((i) => i.startsWith(`backup.start.${n}.`));
    expect(firstStop('rim1')).toBeLessThan(firstStop('central'));
    expect(firstStop('rim2')).toBeLessThan(firstStop('central'));
    expect(firstStart('central')).toBeLessThan(firstStart('rim1'));
    const m = JSON.parse(fs.readFileSync(path.join(j.outputs.backup.dir, 'manifest.json'), 'utf8'));
    expect(m.site.database.service).toBe('postgresql-x64-14');
    expect(m.databases.find((d: { name: string }) => d.name === 'QSR').owner).toBe('postgres');
    expect(m.files.some((f: { path: string }) => f.path.startsWith('certs/rim2/'))).toBe(true);
    expect(m.files.some((f: { kind: string }) => f.kind === 'log')).toBe(false);
    const v = await qsadmin(['backup', 'verify', j.outputs.backup.dir, '--deep'], { env: env() });
    expect(v.exitCode, v.stderr).toBe(0);
    expect(await allRunning(s3)).toBe(true);
  }, 150_000); // creates a three-node site with its own cluster: slow on a busy 2-core machine
});
