// The fixed costs of a nightly backup, cut without trusting anything but content: a config file unchanged since the
// base set is linked (verified by hash, not by time), a certificate's PFX is linked only when the store holds the same
// certificate and the base PFX opens with this run's password, and a small database's archive is linked only when
// PostgreSQL counts nothing changed in it (rows, schema, comments, sequences). Each is also shown re-done on a change.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { withClient } from '../src/postgres/client.js';
import { exportCertificateSet, SET_INDEX_FILE, type CertSetIndex } from '../src/certs/export.js';
import { readPfx } from '../src/certs/pfx.js';
import { thumbprintOf } from '../src/certs/inspect.js';
import type { Manifest, ManifestFile } from '../src/backup/manifest.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { qsadmin } from './helpers/cli.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const PASSWORD = 'fixed-costs-pfx-password';
const OTHER_PASSWORD = 'another-pfx-password-2';
const SMALL = ['SenseServices', 'QSMQ', 'Licenses'];

// The brief's port offset 58000 puts the Service Dispatcher's 9200 past 65535: 50800 on this file's own address.
let site: EmulatedSite;
let stateDir: string;
let target: string;
let first: Manifest;
let second: Manifest;
let third: Manifest;

async function backup(password: string): Promise<{ manifest: Manifest; dir: string }> {
  const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', target, '--json', '--no-logs'], {
    env: { QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: password },
  });
  expect(r.exitCode, r.stderr.slice(-2000)).toBe(0);
  const dir = JSON.parse(r.stdout).outputs.backup.dir as string;
  return { manifest: JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest, dir };
}

const host = () => new EmulatedHost(site.site, site.site.nodes[0]);
const files = (m: Manifest, kind: ManifestFile['kind']) => m.files.filter((f) => f.kind === kind);
const mainArchive = (m: Manifest, db: string) => m.files.find((f) => f.kind === 'db' && f.database === db && !f.table)!;
const conn = (database: string) => ({ ...site.site.database, user: 'postgres', password: site.superuserPassword, database });

let settings: string;
let settingsStored: string;

beforeAll(async () => {
  stateDir = tempDir();
  target = tempDir();
  site = await makeSite({ layout: 'installer', size: 'tiny', portOffset: 50800, baseAddress: '127.0.0.104', startServices: true });
  const h = host();
  settings = h.files.resolve(h.paths.configFiles.find((p) => p.endsWith('Settings.ini'))!);
  settingsStored = `config/${site.site.nodes[0].name}/Settings.ini`;
  first = (await backup(PASSWORD)).manifest;
  second = (await backup(PASSWORD)).manifest;
  // A day's changes that only content shows: Settings.ini rewritten with the same size and time, one licence
  // assignment added, a comment on a QSMQ table (a catalog change, no table counter moves); SenseServices untouched.
  const st = fs.statSync(settings);
  const text = fs.readFileSync(settings, 'utf8');
  const changed = text.replace('ErrorPeakMemory=2147483648', 'ErrorPeakMemory=3147483648');
  expect(changed.length).toBe(text.length);
  fs.writeFileSync(settings, changed);
  fs.utimesSync(settings, st.atime, st.mtime);
  await withClient(conn('Licenses'), (c) => c.query(`INSERT INTO assignments (id, subject, access_type) VALUES (md5('fixed-costs')::uuid, 'CORP\\new.user', 'analyzer')`));
  await withClient(conn('QSMQ'), (c) => c.query(`COMMENT ON TABLE queues IS 'changed by the fixed-costs test'`));
  third = (await backup(OTHER_PASSWORD)).manifest;
}, 120_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('config files', () => {
  it('are linked from the base set when their bytes are unchanged', () => {
    expect(files(first, 'config').every((f) => !f.reused)).toBe(true);
    const cfg = files(second, 'config');
    expect(cfg.length).toBeGreaterThanOrEqual(5);
    expect(cfg.filter((f) => !f.reused).map((f) => f.path)).toEqual([]);
  });

  it('are copied when their bytes changed, even with the same size and time', () => {
    const s = third.files.find((f) => f.path === settingsStored)!;
    expect(s.reused).toBeFalsy();
    const inSet = fs.readFileSync(path.join(target, third.id, ...settingsStored.split('/')), 'utf8');
    expect(inSet).toContain('ErrorPeakMemory=3147483648');
    expect(files(third, 'config').filter((f) => f.path !== settingsStored).every((f) => f.reused)).toBe(true);
  });
});

describe('certificate PFX files', () => {
  it('are linked when the thumbprints are the same and the base PFX opens with the password', () => {
    const pfx = files(second, 'cert').filter((f) => f.path.endsWith('.pfx'));
    expect(pfx.length).toBeGreaterThanOrEqual(4);
    expect(pfx.filter((f) => !f.reused).map((f) => f.path)).toEqual([]);
  });

  it('are exported again when this run has another password (and then open with it)', () => {
    const pfx = files(third, 'cert').filter((f) => f.path.endsWith('.pfx'));
    expect(pfx.filter((f) => f.reused).map((f) => f.path)).toEqual([]);
    for (const f of pfx) expect(() => readPfx(fs.readFileSync(path.join(target, third.id, ...f.path.split('/'))), OTHER_PASSWORD)).not.toThrow();
  });

  it('are exported again when the base PFX holds another certificate than the store (its thumbprint changed)', async () => {
    // The base copy's client.pfx replaced by another certificate's PFX with the same password (index checksum kept
    // true): as if the store's client certificate had been renewed since. It must be exported; the rest linked.
    const node = site.site.nodes[0].name;
    const base = path.join(tempDir(), 'base');
    fs.cpSync(path.join(target, second.id, 'certs', node), base, { recursive: true });
    for (const f of fs.readdirSync(base)) fs.chmodSync(path.join(base, f), 0o600);
    const other = fs.readFileSync(path.join(base, 'server.pfx'));
    fs.writeFileSync(path.join(base, 'client.pfx'), other);
    const indexFile = path.join(base, SET_INDEX_FILE);
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as CertSetIndex;
    index.find((e) => e.file === 'client.pfx')!.sha256 = createHash('sha256').update(other).digest('hex');
    fs.writeFileSync(indexFile, JSON.stringify(index));
    const out = path.join(tempDir(), 'out');
    const r = await exportCertificateSet(host(), site.site.serviceAccount, PASSWORD, out, { reuseFrom: base });
    expect(r.reused).not.toContain('client.pfx');
    expect(r.reused).toContain('server.pfx');
    const client = index.find((e) => e.file === 'client.pfx')!;
    expect(thumbprintOf(readPfx(fs.readFileSync(path.join(out, 'client.pfx')), PASSWORD).certPem)).toBe(client.thumbprint);
  });
});

describe('small databases', () => {
  it('reuse their archive when PostgreSQL counts nothing changed, with the row counts of the base set', () => {
    for (const db of SMALL) {
      expect(mainArchive(first, db).reused, db).toBeFalsy();
      expect(mainArchive(second, db).reused, db).toBe(true);
      expect(mainArchive(second, db).sha256).toBe(mainArchive(first, db).sha256);
      expect(second.databases.find((d) => d.name === db)!.rowCounts).toEqual(first.databases.find((d) => d.name === db)!.rowCounts);
    }
  });

  it('are dumped again after a row was added or the schema changed, and only those', () => {
    expect(mainArchive(third, 'Licenses').reused).toBeFalsy();
    expect(third.databases.find((d) => d.name === 'Licenses')!.rowCounts!['public.assignments']).toBe(second.databases.find((d) => d.name === 'Licenses')!.rowCounts!['public.assignments'] + 1);
    expect(mainArchive(third, 'QSMQ').reused).toBeFalsy();
    expect(mainArchive(third, 'SenseServices').reused).toBe(true);
  });
});
