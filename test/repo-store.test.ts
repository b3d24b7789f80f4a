// Format 2 repositories against real stores: a folder, Azurite and s3rver (127.0.0.67). A small format 1 set is made
// by hand (the end-to-end backup of an emulated site is in repo-backup.test.ts), uploaded, listed, verified,
// materialized; then tampering of every kind, a wrong passphrase, resume, locks and prune with shared objects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startObjectServers, type Servers } from './helpers/object-servers.js';
import { Repository } from '../src/backup/repo/repository.js';
import { CHUNK, HEADER, decryptStream, encryptStream, openBuffer, sealBuffer, newWrappedKey } from '../src/backup/repo/crypto.js';
import { FolderStore, RetentionLockedError } from '../src/backup/repo/store.js';
import { VerificationError, InputError, LockedError } from '../src/runbook/errors.js';

const PASS = 'correct horse battery staple';
let servers: Servers;
let tmp: string;
const saved = { ...process.env };

/** A format 1 set folder with files of the given contents and its manifest. */
function makeSet(root: string, id: string, files: Record<string, Buffer>): string {
  const dir = path.join(root, id);
  fs.mkdirSync(dir, { recursive: true });
  const list = Object.entries(files).map(([p, b]) => {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), b);
    return { path: p, bytes: b.length, sha256: createHash('sha256').update(b).digest('hex'), kind: 'share' as const };
  });
  const bytes = list.reduce((a, f) => a + f.bytes, 0);
  const created = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}.000Z`;
  const m = {
    format: 1, tool: { name: 'qsadmin', version: 'test' }, id, runId: 'r', created, completed: created, durationMs: 1, downtimeMs: 1,
    capture: { database: '', share: '', downtimeFrom: created, downtimeTo: created }, compress: 'none', base: null,
    site: { name: 's', qlikVersion: null, nodes: [], database: { host: 'h', port: 1, service: null, serverVersion: '15', clientVersion: '15', superuser: 'postgres' }, serviceAccount: 'x', share: [] },
    databases: [], files: list, totals: { files: list.length, bytes, reusedFiles: 0, reusedBytes: 0, writtenBytes: bytes },
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
  return dir;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-repo-'));
  servers = await startObjectServers();
  await servers.azure.container('backups');
  await servers.s3.bucket('qlik-backups');
  Object.assign(process.env, servers.azure.env, servers.s3.env, { QSADMIN_REPO_PASSPHRASE: PASS });
});
afterAll(async () => {
  process.env = saved;
  await servers?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('chunked AES-256-GCM objects', () => {
  it('round-trips sizes around the chunk and padding edges, and stored sizes are multiples of 4 KiB', async () => {
    const { keys } = await newWrappedKey(PASS, { N: 1 << 10, r: 8, p: 1 });
    for (const n of [0, 1, 4075, 4076, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5]) {
      const plain = randomBytes(n);
      const sealed = await sealBuffer(keys, 'obj', plain);
      expect(sealed.length % 4096, `size ${n}`).toBe(0);
      expect((await openBuffer(keys, 'obj', sealed, 'obj')).equals(plain), `size ${n}`).toBe(true);
    }
  });
  it('a flipped byte, a truncated chunk, reordered chunks and another object\'s bytes all fail, naming the object', async () => {
    const { keys } = await newWrappedKey(PASS, { N: 1 << 10, r: 8, p: 1 });
    const plain = randomBytes(3 * CHUNK);
    const sealed = await sealBuffer(keys, 'a', plain);
    const S = CHUNK + 16;
    const flipped = Buffer.from(sealed);
    flipped[HEADER + 100] ^= 1;
    const truncated = sealed.subarray(0, HEADER + 2 * S + 10);
    const reordered = Buffer.concat([sealed.subarray(0, HEADER), sealed.subarray(HEADER + S, HEADER + 2 * S), sealed.subarray(HEADER, HEADER + S), sealed.subarray(HEADER + 2 * S)]);
    const dropped = Buffer.concat([sealed.subarray(0, HEADER + S), sealed.subarray(HEADER + 2 * S)]);
    for (const [what, bad, name] of [['flipped', flipped, 'a'], ['truncated', truncated, 'a'], ['reordered', reordered, 'a'], ['chunk dropped', dropped, 'a'], ['swapped (other name)', sealed, 'b']] as const) {
      const err = await openBuffer(keys, name, bad, `obj ${name}`).then(() => null, (e) => e);
      expect(err, what).toBeInstanceOf(VerificationError);
      expect((err as Error).message, what).toContain(`obj ${name}`);
    }
    expect(decryptStream).toBeTypeOf('function');
    expect(encryptStream).toBeTypeOf('function');
  });
});

const kinds = () => [
  ['folder', path.join(tmp, 'folder-repo')],
  ['azure', `azure://devstoreaccount1/backups/site-a`],
  ['s3', `s3://qlik-backups/site-a`],
] as const;

describe.each([0, 1, 2])('repository %i', (k) => {
  it('upload, list, verify, materialize; incremental sends only new content; tamper is exit 4 naming the object', async () => {
    const [kind, url] = kinds()[k];
    const repo = await Repository.open(url, { create: { encrypt: true } });
    expect(repo.encrypted).toBe(true);
    const big = randomBytes(9 << 20); // > one multipart part / block
    const s1 = makeSet(path.join(tmp, kind), '20261201T010000000Z', { 'files/share/Apps/a.qvf': big, 'files/share/b.txt': Buffer.from('bee'), 'files/share/c.txt': Buffer.from('bee') });
    const st1 = await repo.uploadSet(s1);
    expect(st1.objects).toBe(2); // b and c have the same content: one object
    expect(st1.objectsSent).toBe(2);
    const s2 = makeSet(path.join(tmp, kind), '20261202T010000000Z', { 'files/share/Apps/a.qvf': big, 'files/share/b.txt': Buffer.from('bee'), 'files/share/d.txt': Buffer.from('new') });
    const st2 = await repo.uploadSet(s2);
    expect(st2).toMatchObject({ objects: 3, objectsSent: 1, objectsPresent: 2 });
    expect(st2.bytesSent).toBeLessThan(8192);

    const again = await Repository.open(url);
    const sets = await again.listSets();
    expect(sets.map((s) => [s.id, s.complete])).toEqual([['20261202T010000000Z', true], ['20261201T010000000Z', true]]);
    const v = await again.verifyObjects('20261202T010000000Z');
    expect(v.problems).toEqual([]);
    const out = path.join(tmp, kind, 'restored');
    const m = await again.materialize('20261201T010000000Z', out);
    expect(m.format).toBe(1);
    expect(fs.readFileSync(path.join(out, 'files/share/Apps/a.qvf')).equals(big)).toBe(true);
    expect(fs.readFileSync(path.join(out, 'files/share/c.txt'), 'utf8')).toBe('bee');

    // Object names are HMACs, not the sha256 of the content (which would confirm a known file is there).
    const beeSha = createHash('sha256').update('bee').digest('hex');
    const man = await again.manifest('20261201T010000000Z');
    expect(man.files.every((f) => f.object !== f.sha256)).toBe(true);
    expect(JSON.stringify(await listKeys(again))).not.toContain(beeSha);

    // A flipped byte in the object of d.txt: exit 4 naming the file and its object.
    const d = (await again.manifest('20261202T010000000Z')).files.find((f) => f.path.endsWith('d.txt'))!;
    const key = `objects/${d.object.slice(0, 2)}/${d.object}`;
    const raw = Buffer.from(await readKey(again, key));
    raw[HEADER + 1] ^= 0x40;
    await again.store.put(key, raw);
    const bad = await again.verifyObjects('20261202T010000000Z');
    expect(bad.problems).toHaveLength(1);
    expect(bad.problems[0]).toContain(d.object);
    expect(bad.problems[0]).toContain('files/share/d.txt');
    const err = await again.materialize('20261202T010000000Z', path.join(tmp, kind, 'r2')).catch((e) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect(err.exitCode).toBe(4);
    // Two objects swapped (a's bytes under b's name): b fails, naming b's object.
    const a = man.files.find((f) => f.path.endsWith('a.qvf'))!;
    const b = man.files.find((f) => f.path.endsWith('b.txt'))!;
    await again.store.put(`objects/${b.object.slice(0, 2)}/${b.object}`, await readKey(again, `objects/${d.object.slice(0, 2)}/${d.object}`));
    const swapped = await again.verifyObjects('20261201T010000000Z');
    expect(swapped.problems.join('\n')).toContain(b.object);
    expect(swapped.problems.join('\n')).not.toContain(a.object);
  });

  it('a wrong passphrase is exit 2 before any set is read', async () => {
    const [, url] = kinds()[k];
    process.env.WRONG_PASS = 'not the passphrase at all';
    const err = await Repository.open(url, { passphraseEnv: 'WRONG_PASS' }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toContain('wrong passphrase');
    delete process.env.WRONG_PASS;
  });
});

describe('resume, locks, prune', () => {
  it('an upload stopped halfway resumes sending only the missing objects (s3rver requests counted)', async () => {
    const url = 's3://qlik-backups/resume';
    const repo = await Repository.open(url, { create: { encrypt: true } });
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 6; i++) files[`files/share/f${i}.bin`] = randomBytes(10_000 + i);
    const dir = makeSet(path.join(tmp, 'resume'), '20261203T010000000Z', files);
    // Stop after 3 objects: the store fails every PUT of an object after the third (as a dropped connection would).
    let puts = 0;
    const real = repo.store.put.bind(repo.store);
    repo.store.put = async (key, body) => {
      if (key.startsWith('objects/') && ++puts > 3) throw new Error('connection reset');
      return real(key, body);
    };
    await expect(repo.uploadSet(dir, { parallel: 1 })).rejects.toThrow('connection reset');
    repo.store.put = real;
    expect((await repo.listSets())[0]).toMatchObject({ id: '20261203T010000000Z', complete: false });
    const before = servers.s3.requests.length;
    const st = await (await Repository.open(url)).uploadSet(dir);
    expect(st).toMatchObject({ objects: 6, objectsSent: 3, objectsPresent: 3 });
    const objectPuts = servers.s3.requests.slice(before).filter((r) => r.method === 'PUT' && r.url.includes('/objects/'));
    expect(objectPuts).toHaveLength(3);
    expect((await repo.verifyObjects('20261203T010000000Z')).problems).toEqual([]);
  });

  it('prune keeps shared objects, deletes the rest; a backup\'s shared lock stops it; a retention lock is never reported as pruned', async () => {
    const root = path.join(tmp, 'prune-repo');
    const repo = await Repository.open(root, { create: { encrypt: false } });
    const shared = randomBytes(5000);
    await repo.uploadSet(makeSet(path.join(tmp, 'p'), '20250101T010000000Z', { 'files/share/shared': shared, 'files/share/old-only': Buffer.from('old') }));
    await repo.uploadSet(makeSet(path.join(tmp, 'p'), '20261204T010000000Z', { 'files/share/shared': shared, 'files/share/new-only': Buffer.from('new') }));
    const oldOnly = createHash('sha256').update('old').digest('hex');
    const sharedName = createHash('sha256').update(shared).digest('hex');
    // A running backup holds the shared lock: prune is exit 3 and deletes nothing.
    const releaseBackup = await repo.lock('shared', 'backup test');
    const locked = await repo.prune({ policy: { keepDaily: 1, keepWeekly: 0, keepMonthly: 0 } }).catch((e) => e);
    expect(locked).toBeInstanceOf(LockedError);
    expect(locked.message).toContain('backup test');
    await releaseBackup();
    const r = await repo.prune({ policy: { keepDaily: 1, keepWeekly: 0, keepMonthly: 0 } });
    expect(r.deleted).toEqual(['20250101T010000000Z']);
    expect(r.objectsDeleted).toBe(1);
    const names = (await repo.store.list('objects')).map((o) => o.key.split('/').pop());
    expect(names).toContain(sharedName);
    expect(names).not.toContain(oldOnly);
    expect((await repo.verifyObjects('20261204T010000000Z')).problems).toEqual([]);
    expect((await repo.listSets()).map((s) => s.id)).toEqual(['20261204T010000000Z']);

    // The store refuses deletes (as an immutability policy / Object Lock answers 409/403): kept, reported so.
    await repo.uploadSet(makeSet(path.join(tmp, 'p'), '20250201T010000000Z', { 'files/share/feb': Buffer.from('feb') }));
    const del = repo.store.delete.bind(repo.store);
    repo.store.delete = async (key) => {
      if (key.startsWith('sets/20250201T010000000Z') || key.startsWith('objects/')) throw new RetentionLockedError(`${key}: 409 BlobImmutableDueToPolicy`);
      return del(key);
    };
    const r2 = await repo.prune({ policy: { keepDaily: 1, keepWeekly: 0, keepMonthly: 0 } });
    repo.store.delete = del;
    expect(r2.deleted).toEqual([]);
    expect(r2.locked).toEqual(['20250201T010000000Z']);
    expect(r2.decisions.find((d) => d.id === '20250201T010000000Z')).toMatchObject({ keep: true });
    expect((await repo.listSets()).map((s) => s.id)).toContain('20250201T010000000Z');
    expect(repo.store).toBeInstanceOf(FolderStore);
  });

  it('rekey: the new passphrase opens the repository, the old one no longer does', async () => {
    const url = 'azure://devstoreaccount1/backups/rekey';
    await Repository.open(url, { create: { encrypt: true } });
    process.env.NEW_PASS = 'a brand new passphrase';
    await (await Repository.open(url)).rekey('QSADMIN_REPO_PASSPHRASE', 'NEW_PASS');
    expect((await Repository.open(url, { passphraseEnv: 'NEW_PASS' })).encrypted).toBe(true);
    await expect(Repository.open(url)).rejects.toThrow('wrong passphrase');
  });
});

async function readKey(repo: Repository, key: string): Promise<Buffer> {
  const r = await repo.store.get(key);
  const out: Buffer[] = [];
  for await (const c of r!) out.push(c as Buffer);
  return Buffer.concat(out);
}
async function listKeys(repo: Repository): Promise<string[]> {
  return (await repo.store.list('objects')).map((o) => o.key);
}
