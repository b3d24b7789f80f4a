// Backups of an emulated site into repositories through the real CLI: S3 (s3rver) and Azure Blob (Azurite) on
// 127.0.0.67; the site on 127.0.0.66, a fresh restore target on 127.0.0.68. backup → list → verify → restore onto the
// fresh node from each repository; an incremental sends a small part of the full set; a flipped byte and a wrong
// passphrase through the commands (exit 4 naming the object, exit 2).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedSite } from '../src/emulator/site.js';
import { withClient } from '../src/postgres/client.js';
import { countTables } from '../src/backup/rowcount.js';
import { qsadminJson } from './helpers/cli.js';
import { destroySites, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';
import { startObjectServers, type Servers } from './helpers/object-servers.js';

const CERT_PASSWORD = 'repo-test-pfx-password';
const PASS = 'repo test passphrase 42';
const S3 = 's3://qlik-backups/site-a';
const AZ = 'azure://devstoreaccount1/backups/site-a';
let servers: Servers;
let a: EmulatedSite;
let stateDir: string;

const env = (s: EmulatedSite, extra: Record<string, string> = {}) => ({
  QSADMIN_STATE_DIR: stateDir,
  QSADMIN_CERT_PASSWORD: CERT_PASSWORD,
  QSADMIN_DB_PASSWORD: s.superuserPassword,
  QSADMIN_REPO_PASSPHRASE: PASS,
  ...servers.s3.env,
  ...servers.azure.env,
  ...extra,
});
const cli = (s: EmulatedSite, args: string[], extra: Record<string, string> = {}) => qsadminJson([...args, '--site', s.siteFile, '--json'], { env: env(s, extra), timeout: 240_000 });

async function counts(s: EmulatedSite): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  const db = s.site.database;
  for (const name of ['QSR', 'SenseServices']) {
    out[name] = await withClient({ host: db.host, port: db.port, user: db.superuser, password: s.superuserPassword, database: name }, (c) => countTables(c));
  }
  return out;
}

beforeAll(async () => {
  stateDir = tempDir();
  servers = await startObjectServers();
  await servers.s3.bucket('qlik-backups');
  await servers.azure.container('backups');
  a = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 38000, baseAddress: '127.0.0.66', hostnames: ['qs-a.repo.test'], startServices: true });
}, 180_000);

afterAll(async () => {
  await destroySites();
  await servers?.stop();
  cleanupTempDirs();
}, 60_000);

describe('backup into repositories', () => {
  let s3Id: string;
  let azId: string;
  it('S3 and Azure: backup → list → verify; an incremental sends under 10 % of the full set; the bad cases', async () => {
    const full = await cli(a, ['backup', 'create', '--to', S3]);
    expect(full.exitCode, full.stderr).toBe(0);
    const up = full.json.outputs['backup.repository'];
    expect(up).toMatchObject({ encrypted: true });
    expect(up.objectsSent).toBeGreaterThan(10);
    s3Id = up.id;
    const inc = await cli(a, ['backup', 'create', '--to', S3]);
    expect(inc.exitCode, inc.stderr).toBe(0);
    const up2 = inc.json.outputs['backup.repository'];
    expect(up2.bytesSent).toBeLessThan(up.bytesSent * 0.1);
    expect(up2.objectsPresent).toBeGreaterThan(10);

    const az = await cli(a, ['backup', 'create', '--to', AZ, '--skip-share']);
    expect(az.exitCode, az.stderr).toBe(0);
    azId = az.json.outputs['backup.repository'].id;

    const list = await cli(a, ['backup', 'list', '--to', S3]);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.json.backups.map((b: { id: string; complete: boolean; verified: boolean }) => [b.id, b.complete, b.verified])).toEqual([
      [inc.json.outputs['backup.repository'].id, true, true],
      [s3Id, true, true],
    ]);
    for (const [url, id] of [[S3, s3Id], [AZ, azId]]) {
      const v = await cli(a, ['backup', 'verify', id, '--to', url]);
      expect(v.exitCode, v.stderr).toBe(0);
      expect(v.json.problems).toEqual([]);
      expect(v.json.checkedFiles).toBeGreaterThan(5);
    }
    const show = await cli(a, ['backup', 'show', `${AZ}#${azId}`]);
    expect(show.exitCode, show.stderr).toBe(0);
    expect(show.json.databases.map((d: { name: string }) => d.name)).toContain('QSR');

    // A wrong passphrase: exit 2 with the message, before any set is read.
    const wrong = await cli(a, ['backup', 'list', '--to', AZ], { QSADMIN_REPO_PASSPHRASE: 'some other passphrase' });
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr + wrong.stdout).toMatch(/wrong passphrase/);

    // A flipped byte in one object of the Azure set: verify is exit 4 naming the object.
    const { Repository } = await import('../src/backup/repo/repository.js');
    Object.assign(process.env, servers.azure.env, { QSADMIN_REPO_PASSPHRASE: PASS });
    const repo = await Repository.open(AZ);
    const f = (await repo.manifest(azId)).files.find((x) => x.kind === 'db')!;
    const key = `objects/${f.object.slice(0, 2)}/${f.object}`;
    const chunks: Buffer[] = [];
    for await (const c of (await repo.store.get(key))!) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    raw[raw.length - 40] ^= 1;
    await repo.store.put(key, raw);
    const bad = await cli(a, ['backup', 'verify', azId, '--to', AZ]);
    expect(bad.exitCode).toBe(4);
    expect(bad.stderr).toContain(f.object);
    expect(bad.stderr).toContain(f.path);
    await repo.store.put(key, (raw[raw.length - 40] ^= 1, raw));
  }, 240_000);

  it('restores onto a fresh node from S3 (fetched and checked into the state dir), and from Azure onto the site itself', async () => {
    expect(s3Id && azId).toBeTruthy();
    const b = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 38500, baseAddress: '127.0.0.68', hostnames: ['qs-b.repo.test'] });
    const want = await counts(a);
    const r = await cli(b, ['restore', s3Id, '--from', S3, '--hostname', 'qs-b.repo.test', '--share-root', b.site.shareRoot, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await counts(b)).toEqual(want);
    expect(fs.existsSync(path.join(b.site.shareRoot, 'Apps'))).toBe(true);
    // From Azure onto the source site (its databases only, no second hostname change: that part is the same code).
    const r2 = await cli(a, ['restore', `${AZ}#${azId}`, '--only', 'db', '--yes']);
    expect(r2.exitCode, r2.stderr + r2.stdout.slice(0, 3000)).toBe(0);
    expect(r2.json.outputs).toBeTruthy();
    expect(await counts(a)).toEqual(want);
  }, 300_000);
});
