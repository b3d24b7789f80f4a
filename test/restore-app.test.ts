// One app back from a backup through QRS (issue #18): `backup apps` lists what a set holds; `restore app` brings a
// deleted app back with its owner, stream, tags and custom properties, replaces an app's content under its own id,
// and refuses an unknown app or a damaged app file. The emulated QRS refuses what QRS refuses (404, 409, 400).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatedHost } from '../src/host/emulated/index.js';
import { withClient } from '../src/postgres/client.js';
import { QrsClient, QrsError } from '../src/qrs/client.js';
import type { EmulatedSite } from '../src/emulator/site.js';
import { packSetTar } from '../src/backup/set-tar.js';
import { qsadmin } from './helpers/cli.js';
import { newestRun } from './helpers/runs.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const CERT_PASSWORD = 'restore-app-test-pfx-password';
let site: EmulatedSite;
let stateDir: string;
let setDir: string;
let appsDir: string;
let manifest: { files: Array<{ path: string; sha256: string }> };

interface Listed { id: string; name: string; stream: string | null; owner: string | null; fileSize: number; modified: string | null; fileInSet: boolean; file: string | null }
let listed: Listed[];

const env = () => ({ QSADMIN_STATE_DIR: stateDir, QSADMIN_CERT_PASSWORD: CERT_PASSWORD, QSADMIN_DB_PASSWORD: site.superuserPassword });
const qsr = <T>(fn: (c: import('pg').Client) => Promise<T>) =>
  withClient({ host: site.site.database.host, port: site.site.database.port, user: 'postgres', password: site.superuserPassword, database: 'QSR' }, fn);
const sha256 = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const shaInSet = (id: string) => manifest.files.find((f) => f.path.endsWith(`/${id}`))!.sha256;

async function run(args: string[], extraEnv: Record<string, string> = {}) {
  const r = await qsadmin([...args, '--site', site.siteFile, '--json'], { env: { ...env(), ...extraEnv } });
  return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

async function qrsClient(): Promise<QrsClient> {
  const n = site.site.nodes[0];
  const h = new EmulatedHost(site.site, n);
  const pem = async (f: string) => (await h.files.read(path.win32.join(h.paths.localCertificates, f))).toString('utf8');
  return new QrsClient({ host: n.address, port: 4242 + (n.portOffset ?? 0), servername: n.hostname, auth: { certPem: await pem('client.pem'), keyPem: await pem('client_key.pem'), caPem: await pem('root.pem') } });
}

beforeAll(async () => {
  stateDir = tempDir();
  site = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 49000, baseAddress: '127.0.0.176', hostnames: ['qs-a.restore-app.test'], startServices: true });
  appsDir = await qsr(async (c) => (await c.query('SELECT "AppFolder" FROM "ServiceClusterSettingsSharedPersistenceProperties"')).rows[0].AppFolder);
  // A custom property for apps, set on every published app (the generator makes none).
  await qsr(async (c) => {
    await c.query(`INSERT INTO "CustomPropertyDefinitions" ("ID","Name","ValueType","ChoiceValues","ObjectTypes") VALUES ('0a0a0a0a-0000-4000-8000-000000000001','Department','Text','Sales,Finance','App')`);
    await c.query(`INSERT INTO "CustomPropertyValues" ("ID","DefinitionID","Value","ObjectID","ObjectType")
      SELECT md5('cpv' || "ID")::uuid, '0a0a0a0a-0000-4000-8000-000000000001', 'Finance', "ID", 'App' FROM "Apps" WHERE "Published"`);
  });
  const r = await qsadmin(['backup', 'create', '--site', site.siteFile, '--to', tempDir(), '--json'], { env: env(), timeout: 180_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  setDir = JSON.parse(r.stdout).outputs.backup.dir;
  manifest = JSON.parse(fs.readFileSync(path.join(setDir, 'manifest.json'), 'utf8'));
}, 240_000);

afterAll(async () => {
  await destroySites();
  cleanupTempDirs();
});

describe('backup apps', () => {
  it('lists every app of the set from its QSR dump: id, name, stream, owner, size, modified, file in the set', async () => {
    const r = await run(['backup', 'apps', setDir]);
    expect(r.exitCode, r.stderr).toBe(0);
    listed = r.json.apps;
    const rows = await qsr(async (c) => (await c.query(`SELECT a."ID", a."Name", a."FileSize", s."Name" AS stream, u."UserDirectory" || '\\' || u."UserId" AS owner FROM "Apps" a LEFT JOIN "Streams" s ON s."ID" = a."StreamID" LEFT JOIN "Users" u ON u."ID" = a."OwnerID"`)).rows);
    expect(listed.length).toBe(rows.length);
    for (const row of rows) {
      const a = listed.find((x) => x.id === row.ID)!;
      expect(a, row.Name).toMatchObject({ name: row.Name, stream: row.stream, owner: row.owner, fileSize: Number(row.FileSize), fileInSet: true });
      expect(Date.parse(a.modified!)).toBeGreaterThan(0);
      expect(a.file).toBe(`files/share/Apps/${row.ID}`);
    }
  });
});

describe('restore app', () => {
  it('brings a deleted app back with its name, owner, stream, tags and custom property, and the backed-up file', async () => {
    const gone = listed.find((a) => a.stream)!;
    const before = await qsr(async (c) => (await c.query('SELECT "OwnerID", "StreamID" FROM "Apps" WHERE "ID" = $1', [gone.id])).rows[0]);
    const tags = await qsr(async (c) => (await c.query('SELECT "TagID" FROM "TagApps" WHERE "AppID" = $1 ORDER BY 1', [gone.id])).rows.map((x) => x.TagID));
    expect(tags.length).toBeGreaterThan(0);
    const qrs = await qrsClient();
    try {
      await qrs.delete(`/qrs/app/${gone.id}`); // the emulated QRS deletes the row, its links and the file
    } finally {
      qrs.close();
    }
    expect(fs.existsSync(path.join(appsDir, gone.id))).toBe(false);

    const r = await run(['restore', 'app', setDir, '--app', gone.name]);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.json.status).toBe('succeeded');
    expect(r.json.outputs.notRestored ?? []).toEqual([]);
    const id = r.json.outputs['app.id'];
    expect(id).not.toBe(gone.id); // an upload gets a new id
    const row = await qsr(async (c) => (await c.query('SELECT * FROM "Apps" WHERE "ID" = $1', [id])).rows[0]);
    expect(row).toMatchObject({ Name: gone.name, OwnerID: before.OwnerID, StreamID: before.StreamID, Published: true });
    expect(await qsr(async (c) => (await c.query('SELECT "TagID" FROM "TagApps" WHERE "AppID" = $1 ORDER BY 1', [id])).rows.map((x) => x.TagID))).toEqual(tags);
    expect(await qsr(async (c) => (await c.query('SELECT "Value" FROM "CustomPropertyValues" WHERE "ObjectID" = $1', [id])).rows)).toEqual([{ Value: 'Finance' }]);
    expect(sha256(path.join(appsDir, id))).toBe(shaInSet(gone.id));
  });

  it('--replace puts the backed-up content back under the app\'s current id, and leaves no temporary app', async () => {
    const target = listed.find((a) => !a.stream)!;
    const file = path.join(appsDir, target.id);
    fs.writeFileSync(file, 'QSADMIN-EMULATED-APP edited since the backup\n');
    expect(sha256(file)).not.toBe(shaInSet(target.id));
    const count = async () => qsr(async (c) => Number((await c.query('SELECT count(*) AS n FROM "Apps"')).rows[0].n));
    const n = await count();
    const r = await run(['restore', 'app', setDir, '--app', target.id, '--replace', '--yes']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.json.outputs['app.id']).toBe(target.id);
    expect(sha256(file)).toBe(shaInSet(target.id));
    expect(await count()).toBe(n);
  });

  it('--dry-run prints the plan and uploads nothing', async () => {
    const n = fs.readdirSync(appsDir).length;
    const r = await run(['restore', 'app', setDir, '--app', listed[0].id, '--as', 'Dry copy', '--dry-run']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.status).toBe('planned');
    expect(r.json.steps.map((s: { id: string }) => s.id)).toEqual(['restore-app.file', 'restore-app.upload', 'restore-app.properties', 'restore-app.publish']);
    expect(fs.readdirSync(appsDir).length).toBe(n);
  });

  it('refuses an app the set does not hold, and a missing --app, as bad input naming the fix', async () => {
    const r = await run(['restore', 'app', setDir, '--app', '00000000-0000-4000-8000-000000000000']);
    expect(r.exitCode).toBe(2);
    expect(r.json.error.message).toMatch(/holds no app with id "00000000-0000-4000-8000-000000000000"/);
    expect(r.json.error.hint).toMatch(/qsadmin backup apps/);
    const m = await run(['restore', 'app', setDir]);
    expect(m.exitCode).toBe(2);
    expect(m.json.error.message).toMatch(/--app is missing/);
  });

  it('refuses a damaged app file in the set before anything is uploaded', async () => {
    const copy = path.join(tempDir(), 'damaged');
    fs.cpSync(setDir, copy, { recursive: true });
    const victim = listed[0];
    const f = path.join(copy, ...victim.file!.split('/'));
    fs.chmodSync(f, 0o644);
    const b = fs.readFileSync(f);
    b[b.length >> 1] ^= 0xff;
    fs.writeFileSync(f, b);
    const n = fs.readdirSync(appsDir).length;
    const r = await run(['restore', 'app', copy, '--app', victim.id]);
    expect(r.exitCode).toBe(4);
    expect(r.json.error.message).toMatch(new RegExp(`${victim.file}.*damaged: sha256`));
    expect(fs.readdirSync(appsDir).length).toBe(n);
  });

  it('reads a packed (.tar) set: lists its apps and restores one from it', async () => {
    const tar = path.join(tempDir(), 'set.tar');
    await packSetTar(setDir, tar);
    const l = await run(['backup', 'apps', tar]);
    expect(l.exitCode, l.stderr).toBe(0);
    expect(l.json.apps).toEqual(listed);
    const app = listed[1];
    const r = await run(['restore', 'app', tar, '--app', app.id, '--as', 'From the tar']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(sha256(path.join(appsDir, r.json.outputs['app.id']))).toBe(shaInSet(app.id));
  });

  it('a run killed after QRS made the app but before its id was recorded resumes without uploading twice', async () => {
    const app = listed[2];
    const killed = await run(['restore', 'app', setDir, '--app', app.id, '--as', 'Killed upload'], { QSADMIN_FAULT: 'kill-at:restore-app.upload:answered' });
    expect(killed.exitCode).not.toBe(0);
    const named = async () => qsr(async (c) => (await c.query(`SELECT "ID" FROM "Apps" WHERE "Name" = 'Killed upload'`)).rows.map((x) => x.ID));
    expect((await named()).length).toBe(1); // QRS made it before the kill
    const runId = newestRun(stateDir, 'restore-app-');
    const r = await qsadmin(['runs', 'resume', runId, '--json'], { env: env() });
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const ids = await named();
    expect(ids.length).toBe(1);
    expect(JSON.parse(r.stdout).outputs['app.id']).toBe(ids[0]);
  });

  it('reports a stream that no longer exists, and refuses an unknown --publish-to', async () => {
    const app = listed.find((a) => a.stream)!;
    await qsr(async (c) => {
      const s = (await c.query('SELECT "ID" FROM "Streams" WHERE "Name" = $1', [app.stream])).rows[0].ID;
      await c.query('UPDATE "Apps" SET "StreamID" = NULL, "Published" = false WHERE "StreamID" = $1', [s]);
      await c.query('DELETE FROM "Streams" WHERE "ID" = $1', [s]);
    });
    const r = await run(['restore', 'app', setDir, '--app', app.id, '--as', 'Streamless']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.json.outputs.notRestored.join('\n')).toMatch(new RegExp(`stream "${app.stream}" .* no longer exists on the site`));
    const row = await qsr(async (c) => (await c.query('SELECT "Published", "StreamID" FROM "Apps" WHERE "ID" = $1', [r.json.outputs['app.id']])).rows[0]);
    expect(row).toEqual({ Published: false, StreamID: null });
    const bad = await run(['restore', 'app', setDir, '--app', app.id, '--publish-to', 'No such stream']);
    expect(bad.exitCode).toBe(2);
    expect(bad.json.error.message).toMatch(/--publish-to "No such stream": the site has no such stream/);
  });
});

describe('the emulated QRS refuses what QRS refuses', () => {
  it('404 for an unknown app, 409 for a stale modifiedDate, 400 for an upload that is not a QVF', async () => {
    const qrs = await qrsClient();
    const status = async (p: Promise<unknown>) => p.then(() => 200, (e: QrsError) => e.status);
    try {
      expect(await status(qrs.get('/qrs/app/00000000-0000-4000-8000-000000000000'))).toBe(404);
      expect(await status(qrs.put('/qrs/app/00000000-0000-4000-8000-000000000000/publish?stream=00000000-0000-4000-8000-000000000001'))).toBe(404);
      const a = await qrs.get<{ id: string; modifiedDate: string }>(`/qrs/app/${listed[0].id}`);
      expect(await status(qrs.put(`/qrs/app/${a.id}`, { id: a.id, modifiedDate: '2020-01-01T00:00:00.000Z', name: 'x' }))).toBe(409);
      const notQvf = path.join(tempDir(), 'notes.txt');
      fs.writeFileSync(notQvf, 'just some text, not an app');
      expect(await status(qrs.postFile('/qrs/app/upload?name=notes', notQvf, 'application/vnd.qlik.sense.app'))).toBe(400);
      expect(fs.readdirSync(appsDir).some((f) => f.endsWith('.upload'))).toBe(false);
    } finally {
      qrs.close();
    }
  });
});
