// What a restore that fails leaves, through the real CLI on an emulated site: a failure at each stage (refused before
// anything stops, failed with nothing live changed, failed after the database swap, failed after the share swap) and
// its hint, which must describe exactly that state; the services started again only when the site is in one whole
// state; the working databases never left behind and never backed up; mismatches found before any service stops.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedSite } from '../src/emulator/site.js';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { withClient } from '../src/postgres/client.js';
import { countTables } from '../src/backup/rowcount.js';
import { leftState, rollbackLines } from '../src/restore/recovery.js';
import { qlikStores } from '../src/certs/export.js';
import { qsadmin } from './helpers/cli.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'recovery-test-pfx-password';
let r: EmulatedSite;
let stateDir: string;
let setDir: string;
let manifest: { databases: Array<{ name: string; dumped: boolean; reason?: string; rowCounts: Record<string, number> }>; site: { share: Array<{ role: string; path: string }> } };

const env = (s: EmulatedSite, extra: Record<string, string> = {}) => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD, QSADMIN_DB_PASSWORD: s.superuserPassword, ...extra });

async function restore(s: EmulatedSite, args: string[], extra: Record<string, string> = {}) {
  const x = await qsadmin(['restore', '--site', s.siteFile, '--json', ...args], { env: env(s, extra), timeout: 240_000 });
  return { ...x, json: x.stdout.trim() ? JSON.parse(x.stdout) : undefined };
}

const sql = <T>(s: EmulatedSite, database: string, fn: Parameters<typeof withClient<T>>[1]) =>
  withClient({ host: s.site.database.host, port: s.site.database.port, user: s.site.database.superuser, password: s.superuserPassword, database }, fn);

async function databases(s: EmulatedSite): Promise<string[]> {
  return sql(s, 'postgres', async (c) => (await c.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((x) => x.datname));
}

/** Qlik services (not the database) of the central node that run. */
async function running(s: EmulatedSite): Promise<string[]> {
  const list = await new EmulatedHost(s.site, s.site.nodes[0]).services.list();
  return list.filter((x) => x.name !== 'QlikSenseRepositoryDatabase' && x.state === 'running').map((x) => x.name).sort();
}

async function counts(s: EmulatedSite): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const d of manifest.databases.filter((x) => x.dumped)) out[d.name] = await sql(s, d.name, (c) => countTables(c));
  return out;
}

const expected = () => Object.fromEntries(manifest.databases.filter((d) => d.dumped).map((d) => [d.name, d.rowCounts]));

/** The entries qsadmin keeps in the share folders (staging and replaced copies). */
const shareLeftovers = () => manifest.site.share.flatMap((f) => (fs.existsSync(f.path) ? fs.readdirSync(f.path).filter((n) => n.startsWith('.qsadmin-')) : []));

/** A table in the live QSR that the backup does not have: there while QSR is the site's own, gone once restored. */
const MARK = 'qsadmin_recovery_test_mark';
const marked = async (s: EmulatedSite) => sql(s, 'QSR', async (c) => (await c.query('SELECT 1 FROM pg_tables WHERE tablename = $1', [MARK])).rows.length === 1);

beforeAll(async () => {
  stateDir = tempDir();
  r = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 43000, baseAddress: '127.0.0.240', hostnames: ['qs-r.recovery.test'], startServices: true });
  // A working copy left by a restore that was killed (an older qsadmin left them after any failure): owned by the
  // repository role like the site's own databases, so only its name tells it apart.
  await sql(r, 'postgres', (c) => c.query('CREATE DATABASE "QSR__qsadmin_restore" OWNER qliksenserepository'));
  const to = tempDir();
  const b = await qsadmin(['backup', 'create', '--site', r.siteFile, '--to', to, '--json'], { env: env(r) });
  expect(b.exitCode, b.stderr).toBe(0);
  setDir = JSON.parse(b.stdout).outputs.backup.dir;
  manifest = JSON.parse(fs.readFileSync(path.join(setDir, 'manifest.json'), 'utf8'));
}, 240_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
}, 60_000);

describe('restore recovery', () => {
  it('a backup never dumps a restore\'s working database; a restore drops the one it finds', async () => {
    const w = manifest.databases.find((d) => d.name === 'QSR__qsadmin_restore')!;
    expect(w.dumped).toBe(false);
    expect(w.reason).toMatch(/working database of a qsadmin restore/);
    expect(fs.readdirSync(path.join(setDir, 'db')).filter((f) => f.includes('__qsadmin'))).toEqual([]);
  });

  it('refused before any service stops: the QSR of a manual backup names a share this node cannot reach (exit 2, nothing changed)', async () => {
    const dir = tempDir();
    const db = r.site.database;
    const root = (await sql(r, 'QSR', (c) => c.query<{ RootFolder: string }>('SELECT "RootFolder" FROM "ServiceClusterSettingsSharedPersistenceProperties"'))).rows[0].RootFolder;
    await sql(r, 'QSR', (c) => c.query('UPDATE "ServiceClusterSettingsSharedPersistenceProperties" SET "RootFolder" = $1', ['\\\\oldhost\\QlikShare']));
    try {
      for (const name of ['QSR', 'SenseServices', 'QSMQ', 'Licenses']) {
        await execa(path.join(db.binDir!, 'pg_dump'), ['-h', db.host, '-p', String(db.port), '-U', 'postgres', '-F', 't', '-f', path.join(dir, `${name}_backup.tar`), name], { env: { PGPASSWORD: r.superuserPassword } });
      }
    } finally {
      await sql(r, 'QSR', (c) => c.query('UPDATE "ServiceClusterSettingsSharedPersistenceProperties" SET "RootFolder" = $1', [root]));
    }
    fs.mkdirSync(path.join(dir, 'share', 'Apps'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'share', 'Apps', 'one.qvf'), 'app');
    const before = await running(r);
    const x = await restore(r, [dir, '--only', 'db,share', '--yes']);
    expect(x.exitCode, x.stdout).toBe(2);
    expect(x.json.error.message).toMatch(/\\\\oldhost\\QlikShare.*not a folder/);
    expect(x.json.error.hint).toMatch(/--share-root/);
    expect(x.json.error.hint).toMatch(/Nothing live was changed/);
    expect(x.json.error.hint).not.toMatch(/dropdb|pg_restore|psql/);
    expect(x.json.steps.filter((s: { id: string; status: string }) => s.id.startsWith('restore.stop.') && s.status === 'succeeded')).toEqual([]);
    expect(await running(r)).toEqual(before);
    expect((await databases(r)).filter((n) => n.includes('__qsadmin'))).toEqual([]);
    expect(await sql(r, 'QSR', async (c) => (await c.query('SELECT "RootFolder" FROM "ServiceClusterSettingsSharedPersistenceProperties"')).rows[0].RootFolder)).toBe(root);
  }, 240_000);

  it('a set whose nodes are not this site\'s is refused at once, naming what differs and --central-only', async () => {
    // The set of a 3-node site with this central hostname: its manifest names two rims this site does not have.
    const other = path.join(tempDir(), 'set');
    fs.cpSync(setDir, other, { recursive: true });
    const mf = path.join(other, 'manifest.json');
    fs.chmodSync(mf, 0o644);
    const m = JSON.parse(fs.readFileSync(mf, 'utf8'));
    m.site.nodes.push({ name: 'rim1', hostname: 'qs-r-rim1.recovery.test', role: 'rim' }, { name: 'rim2', hostname: 'qs-r-rim2.recovery.test', role: 'rim' });
    fs.writeFileSync(mf, JSON.stringify(m));
    const before = await running(r);
    const x = await restore(r, [other, '--yes']);
    expect(x.exitCode, x.stdout).toBe(2);
    expect(x.json.error.message).toMatch(/3-node site/);
    expect(x.json.error.message).toMatch(/qs-r-rim1\.recovery\.test \(rim in the backup\) is not a node of this site/);
    expect(x.json.error.hint).toMatch(/--central-only/);
    expect(await running(r)).toEqual(before);
    const plan = await restore(r, [other, '--yes', '--central-only', '--dry-run']);
    expect(plan.exitCode, plan.stdout).toBe(0);
  }, 240_000);

  it('the rollback copy of an unfinished restore in the way: exit 2 at preflight, kept, nothing stopped', async () => {
    await sql(r, 'postgres', (c) => c.query('CREATE DATABASE "Licenses__qsadmin_old" OWNER qliksenserepository'));
    try {
      const before = await running(r);
      const x = await restore(r, [setDir, '--yes']);
      expect(x.exitCode, x.stdout).toBe(2);
      expect(x.json.error.step).toBe('restore.preflight');
      expect(x.json.error.message).toMatch(/"Licenses__qsadmin_old" exists/);
      expect(x.json.error.hint).toMatch(/Nothing live was changed/);
      expect(await running(r)).toEqual(before);
      expect(await databases(r)).toContain('Licenses__qsadmin_old');
    } finally {
      await sql(r, 'postgres', (c) => c.query('DROP DATABASE "Licenses__qsadmin_old"'));
    }
  }, 120_000);

  it('not enough room for the safety dumps: exit 2 before anything runs, naming the folder and --safety-dir', async () => {
    const small = tempDir();
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      // Fill it: what is left is less than the set's dumps of the databases it would replace.
      try {
        fs.writeFileSync(path.join(small, 'fill'), Buffer.alloc(1024 * 1024));
      } catch {
        // ENOSPC: full, as wanted
      }
      const x = await restore(r, [setDir, '--yes', '--safety-dir', small]);
      expect(x.exitCode, x.stdout).toBe(2);
      expect(x.json.error.message).toMatch(new RegExp(`not enough free space.*\\n.*safety dumps .* in ${small}: needs about`));
      expect(x.json.error.hint).toMatch(/--safety-dir/);
      expect(fs.readdirSync(small)).toEqual(['fill']);
    } finally {
      await execa('umount', [small]);
    }
  }, 120_000);

  it('failed after the stop with nothing live changed: services started again, working copies gone, no rollback commands', async () => {
    await sql(r, 'QSR', (c) => c.query(`CREATE TABLE ${MARK} (x int)`));
    const before = await running(r);
    const x = await restore(r, [setDir, '--yes'], { QSADMIN_FAULT: 'fail-at:restore.db.swap:before' });
    expect(x.exitCode, x.stdout).toBe(1);
    expect(x.json.error.step).toBe('restore.db.swap');
    expect(x.json.error.hint).toMatch(/Nothing live was changed/);
    expect(x.json.error.hint).not.toMatch(/dropdb|pg_restore|psql|move every entry/);
    expect(x.json.error.hint).toMatch(/started again on the old state/);
    expect(x.json.outputs['recover.started'].state).toBe('old');
    expect(await running(r)).toEqual(before);
    expect((await databases(r)).filter((n) => n.includes('__qsadmin'))).toEqual([]);
    expect(shareLeftovers()).toEqual([]);
    expect(await marked(r)).toBe(true); // the site's own QSR
    // A resume loads again: the working copies the clean-up dropped are made anew and empty, and an earlier load's
    // record does not count for them (found by a random SIGTERM: the resume skipped the loads of empty copies).
    const done = await qsadmin(['runs', 'resume', x.json.runId, '--yes', '--json'], { env: env(r), timeout: 240_000 });
    expect(done.exitCode, done.stdout).toBe(0);
    expect(JSON.parse(done.stdout).steps.filter((s: { id: string; status: string }) => s.id.startsWith('restore.db.load.')).map((s: { status: string }) => s.status)).toEqual(expect.arrayContaining(['succeeded']));
    expect(await marked(r)).toBe(false); // the restored QSR
    expect((await databases(r)).filter((n) => n.includes('__qsadmin'))).toEqual([]);
  }, 300_000);

  it('failed before the swap after replacing the certificates of a node that made its own: stores put back, services started', async () => {
    const c = await makeSite({ layout: 'installer', size: 'tiny', portOffset: 44000, baseAddress: '127.0.0.250', hostnames: ['qs-c.recovery.test'], startServices: true });
    const host = new EmulatedHost(c.site, c.site.nodes[0]);
    const stores = async () => {
      const out: string[] = [];
      for (const store of qlikStores(c.site.serviceAccount)) for (const x of await host.certs.list(store)) out.push(`${store.location}/${store.name}/${x.thumbprint}/${x.hasPrivateKey}`);
      return out.sort();
    };
    const before = await stores();
    const up = await running(c);
    const x = await restore(c, [setDir, '--hostname', 'qs-c.recovery.test', '--share-root', c.site.shareRoot, '--yes'], { QSADMIN_FAULT: 'fail-at:restore.db.swap:before' });
    expect(x.exitCode, x.stdout).toBe(1);
    expect(x.json.steps.find((s: { id: string }) => s.id === 'restore.certs.remove').status).toBe('succeeded');
    expect(x.json.error.hint).toMatch(/the run's changes to the stores were undone/);
    expect(x.json.error.hint).toMatch(/Nothing live was changed/);
    expect(x.json.error.hint).toMatch(/started again on the old state/);
    expect(await stores()).toEqual(before);
    expect(await running(c)).toEqual(up);
    expect(await host.services.repositoryState()).toBe(2); // QRS started with the node's own certificates
  }, 240_000);

  it('failed after the database swap: services left stopped, the hint loads the safety dumps back; resume finishes', async () => {
    const x = await restore(r, [setDir, '--yes'], { QSADMIN_FAULT: 'fail-at:restore.share.swap:before' });
    expect(x.exitCode, x.stdout).toBe(1);
    const hint: string = x.json.error.hint;
    expect(hint).not.toMatch(/Nothing live was changed/);
    // each replaced database was dropped after the swap: its safety dump is the way back, one command a line, no pipes
    for (const d of ['QSR', 'SenseServices']) expect(hint).toMatch(new RegExp(`Database ${d}: the replaced one was dropped`));
    expect(hint).toMatch(/zstd -d -f ".*QSR\.dump\.zst" -o ".*QSR\.dump"/);
    expect(hint).not.toMatch(/\| pg_restore|&&/);
    expect(hint).not.toMatch(/move every entry/); // no share entry was renamed
    expect(hint).toMatch(/left STOPPED/);
    expect(hint).toMatch(new RegExp(`qsadmin runs resume ${x.json.runId} --yes`));
    expect(await running(r)).toEqual([]);
    expect(await marked(r)).toBe(false); // the restored QSR
    const done = await qsadmin(['runs', 'resume', x.json.runId, '--yes', '--json'], { env: env(r), timeout: 240_000 });
    expect(done.exitCode, done.stderr).toBe(0);
    expect((await running(r)).length).toBeGreaterThan(3);
    expect((await databases(r)).filter((n) => n.includes('__qsadmin'))).toEqual([]);
    expect(shareLeftovers()).toEqual([]);
  }, 300_000);

  it('failed after the share swap: the hint names the replaced share entries and the databases; human output on stdout', async () => {
    const x = await qsadmin(['restore', '--site', r.siteFile, setDir, '--yes'], { env: env(r, { QSADMIN_FAULT: 'fail-at:restore.share.swap:after' }), timeout: 240_000 });
    expect(x.exitCode, x.stderr).toBe(1);
    const runId = /Restore run (\S+) FAILED/.exec(x.stdout)?.[1];
    expect(runId, x.stdout).toBeTruthy();
    expect(x.stdout).toMatch(/databases restored: .*QSR/);
    expect(x.stdout).toMatch(/Kept aside:\n {2}safety dumps .*safety/);
    expect(x.stderr).toMatch(new RegExp(`move every entry of .*\\.qsadmin-old-${runId}`));
    expect(x.stderr).toMatch(/Database QSR: the replaced one was dropped/);
    expect(x.stderr).toMatch(/left STOPPED/);
    expect(await running(r)).toEqual([]);
    const done = await qsadmin(['runs', 'resume', runId!, '--yes'], { env: env(r), timeout: 240_000 });
    expect(done.exitCode, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^Restored \(run /m);
    expect(done.stdout).toMatch(/QRS answered/);
    expect(await counts(r)).toEqual(expected());
    expect(shareLeftovers()).toEqual([]);
  }, 300_000);

  it('the rollback SQL the hint names puts a replaced database back when run as printed', async () => {
    const db = r.site.database;
    const conn = { host: db.host, port: db.port, user: db.superuser, password: r.superuserPassword };
    for (const [name, mark] of [['RbTest', 'restored'], ['RbTest__qsadmin_old', 'old']]) {
      await sql(r, 'postgres', (c) => c.query(`CREATE DATABASE "${name}"`));
      await sql(r, name, (c) => c.query(`CREATE TABLE mark AS SELECT '${mark}'::text AS v`));
    }
    const values: Record<string, unknown> = { 'db.swapped.RbTest': 'yes' };
    const outputs = { get: (k: string) => values[k], all: () => values, set: () => undefined, require: () => undefined } as never;
    const runDir = tempDir();
    const state = leftState({ outputs, runId: 'run-x', dbs: ['RbTest'], roots: [], have: new Set(await databases(r)) });
    expect(state.swapped).toEqual([{ db: 'RbTest', oldKept: true }]);
    const lines = rollbackLines(state, { conn, runDir, runId: 'run-x', safetyDir: runDir, owners: new Map(), load: () => [], certSafety: runDir });
    const psqlLine = lines.find((l) => l.includes('psql '))!;
    const dropLine = lines.find((l) => l.includes('dropdb '))!;
    // Run them as printed (split as a shell would: double-quoted words keep their spaces).
    const words = (l: string) => [...l.trim().matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
    for (const l of [psqlLine, dropLine]) {
      const [tool, ...args] = words(l);
      await execa(path.join(db.binDir!, tool), args, { env: { PGPASSWORD: r.superuserPassword } });
    }
    expect((await databases(r)).filter((n) => n.startsWith('RbTest'))).toEqual(['RbTest']);
    expect(await sql(r, 'RbTest', async (c) => (await c.query('SELECT v FROM mark')).rows[0].v)).toBe('old');
    await sql(r, 'postgres', (c) => c.query('DROP DATABASE "RbTest"'));
  }, 60_000);

  it('--only config keeps each file it overwrites in the safety folder', async () => {
    const host = new EmulatedHost(r.site, r.site.nodes[0]);
    const ini = 'C:\\ProgramData\\Qlik\\Sense\\Engine\\Settings.ini';
    const original = (await host.files.read(ini)).toString('utf8');
    await host.files.write(ini, original + '\nLocalChange=1\n');
    const x = await restore(r, [setDir, '--only', 'config', '--yes']);
    expect(x.exitCode, x.stdout).toBe(0);
    expect((await host.files.read(ini)).toString('utf8')).toBe(original);
    const aside = path.join(x.json.runDir, 'safety', 'config');
    const kept = fs.readdirSync(aside).find((f) => f.endsWith('Settings.ini'))!;
    expect(fs.readFileSync(path.join(aside, kept), 'utf8')).toContain('LocalChange=1');
    expect(fs.statSync(path.join(aside, kept)).mode & 0o077).toBe(0);
  }, 120_000);
});
