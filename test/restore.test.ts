// Restores of emulated sites through the real CLI: onto the same site after its data changed, onto a fresh node with
// another hostname, onto one that started and made its own certificates, from the guide's manual pg_dump -F t folder,
// after SIGKILL inside a step (resumed), and a failure halfway that keeps the safety dump and prints the rollback.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mutateApps } from '../src/emulator/db/generate.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { withClient } from '../src/postgres/client.js';
import { countTables } from '../src/backup/rowcount.js';
import { qsadmin, qsadminJson } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'restore-test-pfx-password';
let a: EmulatedSite;
let stateDir: string;
let setDir: string;
let manifest: { databases: Array<{ name: string; dumped: boolean; rowCounts: Record<string, number> }>; files: Array<{ path: string; sha256: string; kind: string }>; site: { share: Array<{ role: string; stored: string; path: string }> } };

const env = (s: EmulatedSite, extra: Record<string, string> = {}) => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD, QSADMIN_DB_PASSWORD: s.superuserPassword, ...extra });

async function restore(s: EmulatedSite, args: string[], extra: Record<string, string> = {}) {
  const r = await qsadmin(['restore', '--site', s.siteFile, '--json', ...args], { env: env(s, extra), timeout: 240_000 });
  return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Row counts of every dumped database of the backup, on a site. */
async function counts(s: EmulatedSite): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  const db = s.site.database;
  for (const d of manifest.databases.filter((x) => x.dumped)) {
    out[d.name] = await withClient({ host: db.host, port: db.port, user: db.superuser, password: s.superuserPassword, database: d.name }, (c) => countTables(c));
  }
  return out;
}

const expected = () => Object.fromEntries(manifest.databases.filter((d) => d.dumped).map((d) => [d.name, d.rowCounts]));

/** Every share file of the backup, at its place under the given share folders, has the backup's sha256. */
function shareMatches(dest: Record<string, string>): string[] {
  const bad: string[] = [];
  for (const f of manifest.site.share) {
    for (const m of manifest.files.filter((x) => x.path.startsWith(`${f.stored}/`))) {
      const p = path.join(dest[f.role], ...m.path.slice(f.stored.length + 1).split('/'));
      if (!fs.existsSync(p) || sha(p) !== m.sha256) bad.push(p);
    }
  }
  return bad;
}

async function qsrCentralHostname(s: EmulatedSite): Promise<string> {
  const db = s.site.database;
  return withClient({ host: db.host, port: db.port, user: db.superuser, password: s.superuserPassword, database: 'QSR' }, async (c) => (await c.query('SELECT "HostName" FROM "ServerNodeConfigurations" WHERE "IsCentral"')).rows[0].HostName as string);
}

async function repositoryState(s: EmulatedSite): Promise<number | null> {
  return new EmulatedHost(s.site, s.site.nodes[0]).services.repositoryState();
}

beforeAll(async () => {
  stateDir = tempDir();
  a = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 51000, baseAddress: '127.0.0.150', hostnames: ['qs-a.restore.test'], shareOutside: true, startServices: true });
  const to = tempDir();
  // every table counts as big: the set has table archives, so every restore below loads them (pre-data, rows, post-data)
  const r = await qsadmin(['backup', 'create', '--site', a.siteFile, '--to', to, '--json', '--table-archive-min-size', '1'], { env: env(a) });
  expect(r.exitCode, r.stderr).toBe(0);
  setDir = JSON.parse(r.stdout).outputs.backup.dir;
  manifest = JSON.parse(fs.readFileSync(path.join(setDir, 'manifest.json'), 'utf8'));
  expect(manifest.files.filter((f: { table?: unknown }) => f.table).length).toBeGreaterThan(8);
}, 180_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
}, 60_000);

describe('restore', () => {
  it('refuses bad input and changes nothing: running services without --yes, a damaged set, a newer PostgreSQL, no PFX password', async () => {
    const running = await restore(a, [setDir]);
    expect(running.exitCode, running.stderr).toBe(2);
    expect(running.stdout).toMatch(/services are running/);

    const damaged = path.join(tempDir(), 'set');
    fs.cpSync(setDir, damaged, { recursive: true });
    const dump = path.join(damaged, manifest.files.find((f) => f.kind === 'db')!.path);
    fs.chmodSync(dump, 0o644);
    fs.appendFileSync(dump, 'x');
    expect((await restore(a, [damaged, '--yes'])).exitCode).toBe(4);

    const newer = path.join(tempDir(), 'set');
    fs.cpSync(setDir, newer, { recursive: true });
    const mf = path.join(newer, 'manifest.json');
    fs.chmodSync(mf, 0o644);
    const m = JSON.parse(fs.readFileSync(mf, 'utf8'));
    m.site.database.serverVersion = '99.1';
    fs.writeFileSync(mf, JSON.stringify(m));
    const nv = await restore(a, [newer, '--yes']);
    expect(nv.exitCode).toBe(2);
    expect(nv.stdout).toMatch(/PostgreSQL 99\.1/);

    // Same size, other bytes: found on the read that restores them, named, and before anything live is touched.
    const flipped = path.join(tempDir(), 'set');
    fs.cpSync(setDir, flipped, { recursive: true });
    const flip = (rel: string) => {
      const f = path.join(flipped, rel);
      fs.chmodSync(f, 0o644);
      const b = fs.readFileSync(f);
      b[b.length >> 1] ^= 0xff;
      fs.writeFileSync(f, b);
    };
    const shareFile = manifest.files.find((f) => f.kind === 'share' && f.path.endsWith('.qvf'))?.path ?? manifest.files.find((f) => f.kind === 'share')!.path;
    flip(shareFile);
    // The restore reads a set's share file only where the live copy differs from the backup (an intact live copy is
    // linked): change the live one, so the damaged copy in the set is the one to restore.
    const target = manifest.site.share.find((t) => shareFile.startsWith(`${t.stored}/`))!;
    const liveFile = path.join(target.path, ...shareFile.slice(target.stored.length + 1).split('/'));
    const liveBytes = fs.readFileSync(liveFile);
    const liveStat = fs.statSync(liveFile);
    fs.writeFileSync(liveFile, Buffer.concat([liveBytes, Buffer.from('changed')]));
    const badShare = await restore(a, [flipped, '--yes']);
    expect(badShare.exitCode, badShare.stdout).toBe(4);
    expect(badShare.stdout).toContain(shareFile);
    expect(fs.readFileSync(liveFile).length).toBe(liveBytes.length + 7); // nothing live was touched
    fs.writeFileSync(liveFile, liveBytes);
    fs.utimesSync(liveFile, liveStat.atime, liveStat.mtime);
    flip(shareFile);
    const dumpFile = manifest.files.find((f) => f.kind === 'db' && f.path.includes('QSR'))!.path;
    flip(dumpFile);
    const badDump = await restore(a, [flipped, '--yes']);
    expect(badDump.exitCode, badDump.stdout).toBe(4);
    expect(badDump.stdout).toContain(dumpFile);
    expect(await repositoryState(a)).toBe(2); // the services were never stopped

    const nopw = await restore(a, [setDir, '--yes'], { QSADMIN_CERT_PASSWORD: '' });
    expect(nopw.exitCode).toBe(2);
    expect(nopw.stdout).toMatch(/QSADMIN_CERT_PASSWORD/);
    expect(await repositoryState(a)).toBe(2);
  }, 120_000);

  it('(a) restores the same site after its data changed', async () => {
    const apps = manifest.site.share.find((s) => s.role === 'RootFolder')!.path;
    await mutateApps(path.join(apps, 'Apps'), 0.5, 7);
    const db = a.site.database;
    const before = await counts(a);
    const table = Object.entries(before.QSR).find(([, n]) => n > 0)![0];
    await withClient({ host: db.host, port: db.port, user: db.superuser, password: a.superuserPassword, database: 'QSR' }, (c) => c.query(`TRUNCATE ${table.split('.').map((x) => `"${x}"`).join('.')} CASCADE`));

    const plan = await restore(a, [setDir, '--yes', '--dry-run']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.json.notes.join('\n')).toMatch(/OVERWRITES the existing QSR/);

    // as the guide has it, the services are stopped before a restore: then the safety dump can link unchanged tables
    const stop = await qsadmin(['services', 'stop', '--site', a.siteFile, '--json'], { env: env(a) });
    expect(stop.exitCode, stop.stderr).toBe(0);
    const r = await restore(a, [setDir, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.outputs['qrs.about']).toBeTruthy();
    expect(await counts(a)).toEqual(expected());
    expect(shareMatches(Object.fromEntries(manifest.site.share.map((s) => [s.role, s.path])))).toEqual([]);
    // share files unchanged since the backup were linked from the live share, the changed apps copied from the set
    const staged = Object.entries(r.json.outputs).filter(([k]) => k.startsWith('share.staged.')).map(([, v]) => v as { files: number; bytes: number; linked: number });
    expect(staged.reduce((n, s) => n + s.linked, 0)).toBeGreaterThan(0);
    expect(staged.reduce((n, s) => n + s.bytes, 0)).toBeGreaterThan(0);
    expect(staged.reduce((n, s) => n + s.linked, 0)).toBeLessThan(staged.reduce((n, s) => n + s.files, 0));
    expect(fs.existsSync(path.join(r.json.runDir, 'safety', 'QSR.dump.zst'))).toBe(true);
    // the safety dump of QSR: the truncated table dumped again, tables unchanged since the set linked from it
    const safety = JSON.parse(fs.readFileSync(path.join(r.json.runDir, 'safety', 'QSR.safety.json'), 'utf8'));
    expect(safety.files[0].path).toBe('QSR.dump.zst');
    const reused = safety.files.filter((f: { reused?: boolean }) => f.reused);
    expect(reused.length).toBeGreaterThan(0);
    expect(reused.some((f: { table: string }) => f.table === table)).toBe(false);
    for (const f of reused) expect(fs.statSync(path.join(r.json.runDir, 'safety', f.path)).nlink).toBeGreaterThan(1);
  }, 240_000);

  it('resumes after SIGKILL inside the database swap transaction and between the share renames', async () => {
    const root = manifest.site.share.find((s) => s.role === 'RootFolder')!.path;
    await mutateApps(path.join(root, 'Apps'), 0.5, 11);
    const extra = path.join(root, 'Apps', 'made-after-the-backup.qvf');
    fs.writeFileSync(extra, 'not in the backup');
    const db = a.site.database;
    const names = async () => withClient({ host: db.host, port: db.port, user: db.superuser, password: a.superuserPassword, database: 'postgres' }, async (c) => (await c.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((r) => r.datname));

    const first = await restore(a, [setDir, '--yes'], { QSADMIN_FAULT: 'kill-at:restore.db.swap:in-transaction' });
    expect(first.exitCode).not.toBe(0);
    const runId = newestRun(stateDir, 'restore-');
    // The transaction died with the process: no database was renamed, the restored ones wait under their new names.
    expect((await names()).filter((n) => n.includes('__qsadmin_old'))).toEqual([]);
    expect(await names()).toContain('QSR__qsadmin_restore');

    const second = await qsadmin(['runs', 'resume', runId, '--yes', '--json'], { env: env(a, { QSADMIN_FAULT: 'kill-at:restore.share.swap:between-renames' }), timeout: 240_000 });
    expect(second.exitCode).not.toBe(0);
    // the databases were swapped in (the replaced ones are dropped beside the service start, their safety dumps kept)
    expect(await names()).not.toContain('QSR__qsadmin_restore');
    expect(fs.existsSync(path.join(stateDir, 'runs', runId, 'safety', 'QSR.safety.json'))).toBe(true);
    // Killed between the two renames of the first entry: moved aside, its staged copy not yet in place.
    const aside = manifest.site.share.flatMap((s) => (fs.existsSync(path.join(s.path, `.qsadmin-old-${runId}`)) ? fs.readdirSync(path.join(s.path, `.qsadmin-old-${runId}`)) : []));
    expect(aside.length).toBe(1);
    // A backup of the half-restored site is refused (exit 3) and names the run; the operator can name it to go on.
    const backupPlan = (extra: string[]) => qsadminJson(['backup', 'create', '--site', a.siteFile, '--to', tempDir(), '--dry-run', '--json', ...extra], { env: env(a) });
    const refused = await backupPlan([]);
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(3);
    expect(refused.json.error.message).toMatch(new RegExp(`restore ${runId} of this site .* stopped at restore\\.share\\.swap\\.\\d+, interrupted .* the site may be half restored`));
    expect(refused.json.error.hint).toContain(`qsadmin runs resume ${runId} --yes`);
    expect((await backupPlan(['--ignore-unfinished-restore', runId])).exitCode).toBe(0);

    const third = await qsadmin(['runs', 'resume', runId, '--yes', '--json'], { env: env(a), timeout: 240_000 });
    expect(third.exitCode, third.stderr).toBe(0);
    expect((await backupPlan([])).exitCode).toBe(0); // finished: backups go on
    expect(await counts(a)).toEqual(expected());
    expect(shareMatches(Object.fromEntries(manifest.site.share.map((s) => [s.role, s.path])))).toEqual([]);
    expect(fs.readFileSync(extra, 'utf8')).toBe('not in the backup'); // files not in the backup are left in place
    fs.rmSync(extra);
    for (const s of manifest.site.share) expect(fs.readdirSync(s.path).filter((n) => n.startsWith('.qsadmin-'))).toEqual([]);
    expect((await names()).filter((n) => n.includes('__qsadmin'))).toEqual([]);
    expect(await repositoryState(a)).toBe(2);
  }, 300_000);

  it('--only config shows the diff first and restores the local files of the same host', async () => {
    const host = new EmulatedHost(a.site, a.site.nodes[0]);
    const ini = 'C:\\ProgramData\\Qlik\\Sense\\Engine\\Settings.ini';
    const original = (await host.files.read(ini)).toString('utf8');
    await host.files.write(ini, original.replace('ErrorPeakMemory=2147483648', 'ErrorPeakMemory=1'));
    const plan = await restore(a, [setDir, '--only', 'config', '--yes', '--dry-run']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    const notes = plan.json.notes.join('\n');
    expect(notes).toMatch(/Settings\.ini: OVERWRITTEN/);
    expect(notes).toMatch(/- ErrorPeakMemory=1\b/);
    expect((await host.files.read(ini)).toString('utf8')).toContain('ErrorPeakMemory=1');
    const r = await restore(a, [setDir, '--only', 'config', '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await host.files.read(ini)).toString('utf8')).toBe(original);
    expect((await restore(a, [setDir, '--only', 'config', '--hostname', 'qs-other.restore.test', '--yes'])).exitCode).toBe(2);
  }, 240_000);

  it('--dry-run on a multi-node site with a new hostname: plan only, rims listed to be removed and re-added, nothing changed', async () => {
    const d = await makeSite({ nodes: 3, layout: 'manual', size: 'tiny', portOffset: 55000, baseAddress: '127.0.0.190', hostnames: ['qs-d.restore.test', 'qs-d-rim1.restore.test', 'qs-d-rim2.restore.test'] });
    const r = await restore(d, [setDir, '--hostname', 'qs-d.restore.test', '--share-root', d.site.shareRoot, '--yes', '--dry-run']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.status).toBe('planned');
    const notes = r.json.notes.join('\n');
    expect(notes).toMatch(/rim nodes stay DOWN and must be removed and re-added.*rim1, rim2/);
    expect(notes).toMatch(/SQL route is not the guide's/);
    expect(notes).toMatch(/REMOVED/); // the rims' CA is a second root for QRS: set aside and removed
    const ids = r.json.steps.map((x: { id: string }) => x.id);
    expect(ids).toContain('restore.hostname');
    expect(ids.filter((x: string) => x.startsWith('restore.start.rim'))).toEqual([]);
    expect(ids.indexOf('restore.stop.rim1.QSD')).toBeLessThan(ids.indexOf('restore.stop.central.QSD'));
    expect(await qsrCentralHostname(d)).toBe('qs-d.restore.test');
  }, 240_000);

  it('(b) restores onto a fresh node with another hostname that never started, and (kill) resumes after SIGKILL', async () => {
    const b = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 52000, baseAddress: '127.0.0.160', hostnames: ['qs-b.restore.test'] });
    const root = b.site.shareRoot;
    const killed = await restore(b, [setDir, '--hostname', 'qs-b.restore.test', '--share-root', root, '--yes'], { QSADMIN_FAULT: 'kill:restore.db.load.QSR:400' });
    expect(killed.exitCode).not.toBe(0);
    const runId = newestRun(stateDir, 'restore-');
    const journal = fs.readFileSync(path.join(stateDir, 'runs', runId, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // Killed inside the step (its group's other steps ran beside it, so it need not be the last line).
    expect(journal.filter((e) => e.step === 'restore.db.load.QSR').at(-1)).toMatchObject({ event: 'start' });
    const r = await qsadmin(['runs', 'resume', runId, '--yes', '--json'], { env: env(b), timeout: 240_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await qsrCentralHostname(b)).toBe('qs-b.restore.test');
    expect(await repositoryState(b)).toBe(2);
    expect(JSON.parse(r.stdout).outputs['qrs.about']).toBeTruthy();
    const c = await counts(b);
    expect(c).toEqual(expected());
    const dest = { RootFolder: root, AppFolder: path.join(root, 'Apps'), StaticContentRootFolder: path.join(root, 'StaticContent'), ArchivedLogsRootFolder: path.join(root, 'ArchivedLogs') };
    expect(shareMatches(dest)).toEqual([]);
  }, 300_000);

  it('(c) restores onto a node that started and made its own certificates (refused without --yes)', async () => {
    const c = await makeSite({ layout: 'installer', size: 'tiny', portOffset: 53000, baseAddress: '127.0.0.170', hostnames: ['qs-c.restore.test'], startServices: true });
    const refused = await restore(c, [setDir, '--hostname', 'qs-c.restore.test', '--share-root', c.site.shareRoot]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stdout).toMatch(/Qlik certificate/);
    const r = await restore(c, [setDir, '--hostname', 'qs-c.restore.test', '--share-root', c.site.shareRoot, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await qsrCentralHostname(c)).toBe('qs-c.restore.test');
    expect(r.json.outputs['qrs.about']).toBeTruthy();
    expect(await repositoryState(c)).toBe(2);
    expect(await counts(c)).toEqual(expected());
    expect(fs.readdirSync(path.join(r.json.runDir, 'safety', 'certificates')).some((f) => f.endsWith('.pfx'))).toBe(true);
  }, 300_000);

  it('restores the guide\'s manual backup (pg_dump -F t files and a copied share)', async () => {
    const db = a.site.database;
    const dir = tempDir();
    for (const name of ['QSR', 'SenseServices', 'QSMQ', 'Licenses']) {
      await execa(path.join(db.binDir!, 'pg_dump'), ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-b', '-F', 't', '-f', path.join(dir, `${name}_backup.tar`), name], { env: { PGPASSWORD: a.superuserPassword } });
    }
    const share = manifest.site.share.find((s) => s.role === 'RootFolder')!.path;
    fs.cpSync(share, path.join(dir, 'share'), { recursive: true });
    const want = await counts(a);
    await mutateApps(path.join(share, 'Apps'), 0.5, 9);
    const r = await restore(a, [dir, '--only', 'db,share', '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await counts(a)).toEqual(want);
    expect(shareMatches(Object.fromEntries(manifest.site.share.map((s) => [s.role, s.path]))).filter((p) => p.startsWith(share))).toEqual([]);
    // every file it overwrote was moved aside first (removed once the restore was verified); the copies stay writable
    const copy = r.json.outputs['share.copy'];
    expect(copy.replaced).toBeGreaterThan(0);
    expect(copy.replaced).toBeLessThanOrEqual(copy.files);
    expect(r.json.runDir).toBeTruthy();
    expect(fs.existsSync(path.join(share, `.qsadmin-old-${path.basename(r.json.runDir)}`))).toBe(false);
    for (const f of fs.readdirSync(path.join(share, 'Apps')).slice(0, 5)) expect(fs.statSync(path.join(share, 'Apps', f)).mode & 0o200).toBe(0o200);
  }, 240_000);

  it('restores a plain-SQL pg_dumpall file through psql (roles: only missing ones, no password touched)', async () => {
    const db = a.site.database;
    const dir = tempDir();
    await execa(path.join(db.binDir!, 'pg_dumpall'), ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-f', path.join(dir, 'site.sql')], { env: { PGPASSWORD: a.superuserPassword } });
    const want = await counts(a);
    const table = Object.entries(want.QSR).find(([, n]) => n > 0)![0];
    await withClient({ host: db.host, port: db.port, user: db.superuser, password: a.superuserPassword, database: 'QSR' }, (c) => c.query(`TRUNCATE ${table.split('.').map((x) => `"${x}"`).join('.')} CASCADE`));
    const r = await restore(a, [path.join(dir, 'site.sql'), '--only', 'db', '--yes']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(await counts(a)).toEqual(want);
    expect(r.json.outputs['qrs.about']).toBeTruthy();
  }, 240_000);

  it('a --share-root that is not a folder is refused before anything changes, with no rollback commands', async () => {
    const bad = path.join(tempDir(), 'not-a-folder');
    fs.writeFileSync(bad, 'file');
    const r = await restore(a, [setDir, '--share-root', bad, '--yes']);
    expect(r.exitCode, r.stdout).toBe(2);
    expect(r.json.error.message).toMatch(/not-a-folder.*is not a folder/);
    expect(r.json.error.hint).toMatch(/--share-root/);
    expect(r.stdout).not.toMatch(/dropdb|pg_restore|rollback/);
    expect(await repositoryState(a)).toBe(2);
  }, 240_000);
});
