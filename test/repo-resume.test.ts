// Interrupted uploads and several repositories, through the real CLI: the emulated site on 127.0.0.22, Azurite and
// s3rver on 127.0.0.23 (requests counted as each server receives them).
// - kill -9 in the middle of a multipart upload (S3 and Azure), then `qsadmin runs resume`: only the parts and objects
//   the store lacks are sent, the set verifies --deep from the repository, and its objects are byte for byte those of
//   an uninterrupted upload of the same set;
// - a PUT cut off mid-body (s3rver keeps the short object under its final name): a resumed upload sends it again;
//   the cause of the "authentication failure of a resumed S3 object" seen once under load;
// - --to-all with one of three repositories failing: exit 1, --json names the failed upload and the two that have
//   the set; `runs resume` uploads to the third alone.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedSite } from '../src/emulator/site.js';
import { sealedSize } from '../src/backup/repo/crypto.js';
import { Repository } from '../src/backup/repo/repository.js';
import { qsadmin, qsadminJson } from './helpers/cli.js';
import { newestRun as newestRunIn } from './helpers/runs.js';
import { destroySites, editSite, makeSite } from './helpers/site.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';
import { startObjectServers, type Servers } from './helpers/object-servers.js';

const CERT_PASSWORD = 'resume-test-pfx-password';
const PASS = 'resume test passphrase 7';
const PART = 8 << 20;
const BIG = 36 << 20; // 5 parts of 8 MiB once sealed
let servers: Servers;
let a: EmulatedSite;
let stateDir: string;
const saved = { ...process.env };

const env = (extra: Record<string, string> = {}) => ({
  QSADMIN_STATE_DIR: stateDir,
  QSADMIN_CERT_PASSWORD: CERT_PASSWORD,
  QSADMIN_DB_PASSWORD: a.superuserPassword,
  QSADMIN_REPO_PASSPHRASE: PASS,
  ...servers.s3.env,
  ...servers.azure.env,
  ...extra,
});
const cli = (args: string[], extra: Record<string, string> = {}) => qsadminJson([...args, '--site', a.siteFile, '--json'], { env: env(extra), timeout: 300_000 });
const newestRun = () => newestRunIn(stateDir);
const partsOf = (plain: number) => Math.ceil(sealedSize(plain) / PART);

beforeAll(async () => {
  stateDir = tempDir();
  servers = await startObjectServers('127.0.0.23');
  await servers.s3.bucket('resume');
  await servers.azure.container('resume');
  Object.assign(process.env, servers.azure.env, servers.s3.env, { QSADMIN_REPO_PASSPHRASE: PASS });
  a = await makeSite({ layout: 'manual', size: 'tiny', portOffset: 41000, baseAddress: '127.0.0.22', hostnames: ['qs-a.resume.test'], startServices: true });
  // One share file big enough for a multipart upload (5 parts), so a kill can land between its parts.
  fs.writeFileSync(path.join(a.site.shareRoot, 'Apps', 'big-app.qvf'), randomBytes(BIG));
}, 180_000);

afterAll(async () => {
  process.env = saved;
  await destroySites();
  await servers?.stop();
  cleanupTempDirs();
}, 60_000);

describe.each([
  ['S3', 's3://resume/kill', () => servers.s3.requests, (u: string) => u.includes('partNumber='), 'x-id=PutObject'],
  ['Azure', 'azure://devstoreaccount1/resume/kill', () => servers.azure.requests, (u: string) => u.includes('comp=block&') || /comp=block$/.test(u), ''],
] as const)('kill -9 in the middle of an upload to %s, then runs resume', (kind, url, requests, isPart) => {
  it('sends only the parts and objects the store lacks; the set verifies --deep and equals an uninterrupted upload', async () => {
    // The process kills itself right after the store acknowledged (and the journal recorded) the second part.
    const killed = await cli(['backup', 'create', '--to', url, '--no-logs'], { QSADMIN_FAULT: 'kill-at:repo.upload:part-2' });
    expect(killed.exitCode, killed.stderr.slice(-2000)).not.toBe(0);
    const runId = newestRun();
    const journal = fs.readFileSync(path.join(stateDir, 'runs', runId, 'journal.jsonl'), 'utf8');
    expect(journal).toContain('"step":"backup.upload"');
    expect(journal).not.toContain('run-finish');

    // What the store has at the kill: the objects whose upload finished (at their full size) must not be sent again.
    const repo = await Repository.open(url);
    const staged = fs.readdirSync(path.join(stateDir, 'staging')).map((d) => path.join(stateDir, 'staging', d)).find((d) => fs.existsSync(path.join(d, '.uploads')))!;
    const setId = fs.readdirSync(staged).find((e) => e !== '.uploads')!;
    const manifest = JSON.parse(fs.readFileSync(path.join(staged, setId, 'manifest.json'), 'utf8')) as { files: Array<{ path: string; bytes: number; sha256: string }> };
    const big = manifest.files.find((f) => f.path.endsWith('big-app.qvf'))!;
    const { objectName } = await import('../src/backup/repo/crypto.js');
    const keys = (repo as unknown as { keys: Parameters<typeof objectName>[1] }).keys;
    const bigKey = `objects/${objectName(big.sha256, keys).slice(0, 2)}/${objectName(big.sha256, keys)}`;
    const journals = fs.readdirSync(path.join(staged, '.uploads')).flatMap((d) => fs.readdirSync(path.join(staged, '.uploads', d)).map((f) => JSON.parse(fs.readFileSync(path.join(staged, '.uploads', d, f), 'utf8'))));
    const bigJournal = journals.find((j) => j.key === bigKey);
    expect(bigJournal.parts.map((p: { n: number }) => p.n).sort()).toHaveLength(2);
    const done = new Set((await repo.store.list('objects')).filter((o) => o.key !== bigKey && o.size === sealedSize(manifest.files.find((f) => o.key.endsWith(objectName(f.sha256, keys)))?.bytes ?? -1)).map((o) => o.key));

    const before = requests().length;
    const resumed = await qsadmin(['runs', 'resume', runId, '--json', '--state-dir', stateDir], { env: env(), timeout: 300_000 });
    expect(resumed.exitCode, resumed.stderr.slice(-3000)).toBe(0);
    const after = requests().slice(before);
    const bigParts = after.filter((r) => r.method === 'PUT' && r.url.includes(bigKey.split('/').pop()!) && isPart(r.url));
    // Only the parts the killed run had not sent: 5 in all, 2 acknowledged before the kill.
    expect(partsOf(big.bytes)).toBe(5);
    expect(bigParts).toHaveLength(partsOf(big.bytes) - 2);
    const sentAgain = after.filter((r) => r.method === 'PUT' && [...done].some((k) => r.url.includes(k.split('/').pop()!)));
    expect(sentAgain, `objects complete before the kill were sent again (${done.size} were complete)`).toEqual([]);
    expect(done.size).toBeGreaterThan(0);

    const out = JSON.parse(resumed.stdout);
    expect(out.outputs['backup.repository']).toMatchObject({ id: setId, encrypted: true });
    const v = await cli(['backup', 'verify', setId, '--to', url, '--deep']);
    expect(v.exitCode, v.stderr.slice(-2000)).toBe(0);
    expect(v.json.problems).toEqual([]);

    // An uninterrupted upload of the same staged set under the same key: the same objects, byte for byte.
    const twin = `${url}-twin`;
    const cfg = await repo.store.get('qsadmin-repository.json');
    const twinRepo0 = await (await import('../src/backup/repo/store.js')).openStore((await import('../src/backup/repo/store.js')).parseRepoUrl(twin));
    await twinRepo0.put('qsadmin-repository.json', Buffer.concat(await cfg!.toArray()));
    const twinRepo = await Repository.open(twin);
    await twinRepo.uploadSet(path.join(staged, setId));
    const digest = async (r: Repository) => {
      const out: Record<string, string> = {};
      for (const o of await r.store.list('objects')) out[o.key] = createHash('sha256').update(Buffer.concat(await (await r.store.get(o.key))!.toArray())).digest('hex');
      return out;
    };
    expect(await digest(repo)).toEqual(await digest(twinRepo));
    expect(Object.keys(await digest(repo))).toContain(bigKey);
  }, 400_000);
});

describe('a PUT cut off mid-body', () => {
  it('s3rver keeps the short object under its name; a resumed upload sends it again, so the set verifies', async () => {
    const url = 's3://resume/cutoff';
    const repo = await Repository.open(url, { create: { encrypt: true } });
    const dir = path.join(tempDir(), '20261205T010000000Z');
    const body = randomBytes(300_000);
    fs.mkdirSync(path.join(dir, 'files'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'files', 'a.bin'), body);
    const sha = createHash('sha256').update(body).digest('hex');
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ format: 1, id: '20261205T010000000Z', created: '2026-12-05T01:00:00.000Z', files: [{ path: 'files/a.bin', bytes: body.length, sha256: sha, kind: 'share' }], totals: { files: 1, bytes: body.length } }));
    // A client that dies while sending the body: the request says the full length, its socket closes part-way.
    // The object's real bytes (what the killed upload was sending), so the short object is a truncated ciphertext.
    const { objectName, objectSalt, sealBuffer } = await import('../src/backup/repo/crypto.js');
    const keys = (repo as unknown as { keys: Parameters<typeof objectName>[1] & object }).keys;
    const name = objectName(sha, keys);
    const sdk = await import('@aws-sdk/client-s3');
    const agent = new http.Agent();
    const connect = agent.createConnection.bind(agent);
    agent.createConnection = (o, cb) => {
      const sock = connect(o, cb) as net.Socket;
      let n = 0;
      const write = sock.write.bind(sock);
      sock.write = ((chunk: Buffer | string, ...rest: never[]) => {
        const room = 150_000 - n;
        n += chunk.length;
        if (room >= chunk.length) return write(chunk, ...rest);
        // The bytes up to the limit go out; then the connection dies, as a killed client's does.
        if (room > 0) write(typeof chunk === 'string' ? chunk.slice(0, room) : chunk.subarray(0, room));
        setTimeout(() => sock.destroy(), 300);
        return false;
      }) as typeof sock.write;
      return sock;
    };
    const c = new sdk.S3Client({ region: 'us-east-1', endpoint: servers.s3.endpoint, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, requestChecksumCalculation: 'WHEN_REQUIRED', requestHandler: { httpAgent: agent } });
    const cut = await c.send(new sdk.PutObjectCommand({ Bucket: 'resume', Key: `cutoff/objects/${name.slice(0, 2)}/${name}`, Body: await sealBuffer(keys, name, body, objectSalt(keys, name)) })).then(() => null, (e) => e);
    expect(cut, 'the cut-off PUT fails at the client').toBeTruthy();
    await new Promise((r) => setTimeout(r, 500));
    const listed = (await repo.store.list('objects')).find((o) => o.key.endsWith(name));
    expect(listed, 'the short object is listed').toBeTruthy();
    expect(listed!.size).toBeLessThan(sealedSize(body.length));

    const logged: string[] = [];
    const st = await repo.uploadSet(dir, { log: (m) => logged.push(m) });
    expect(st).toMatchObject({ objects: 1, objectsSent: 1, objectsPresent: 0 });
    expect(logged.join('\n')).toMatch(/cut off part-way, sent again/);
    expect((await repo.verifyObjects('20261205T010000000Z')).problems).toEqual([]);
  }, 60_000);
});

describe('several repositories: --to <name>, --to-all', () => {
  it('one of three failing: exit 1, --json names it and the two that have the set; runs resume uploads to it alone', async () => {
    const folderRepo = path.join(tempDir(), 'repo');
    editSite(a, (s) => {
      s.repositories = [
        { name: 'local', url: folderRepo },
        { name: 'azure', url: 'azure://devstoreaccount1/resume/all' },
        // Its endpoint from the site config (no QSADMIN_S3_ENDPOINT below); the bucket does not exist yet.
        { name: 'offsite', url: 's3://late-bucket/site', endpoint: servers.s3.endpoint, pathStyle: true, region: 'us-east-1' },
      ];
    });
    const noEndpoint = { QSADMIN_S3_ENDPOINT: '' };

    const plan = await cli(['backup', 'create', '--to', 'local', '--dry-run'], noEndpoint);
    expect(plan.exitCode, plan.stderr.slice(-2000)).toBe(0);
    expect(plan.json.steps.map((s: { id: string }) => s.id).filter((id: string) => id.startsWith('backup.upload'))).toEqual(['backup.upload.local']);
    const both = await cli(['backup', 'create', '--to-all', '--no-encrypt'], noEndpoint);
    expect(both.exitCode).toBe(2);
    expect(both.stdout + both.stderr).toMatch(/set \\?"encrypt\\?" on the repository in the site config/);

    const first = await cli(['backup', 'create', '--to-all', '--skip-share'], noEndpoint);
    expect(first.exitCode, first.stderr.slice(-3000)).toBe(1);
    expect(first.json.status).toBe('failed');
    expect(first.json.error.step).toBe('backup.upload.offsite');
    expect(Object.keys(first.json.outputs['backup.uploads']).sort()).toEqual(['azure', 'local']);
    const status = Object.fromEntries(first.json.steps.filter((s: { id: string }) => s.id.startsWith('backup.upload') || s.id === 'backup.staging.trim').map((s: { id: string; status: string }) => [s.id, s.status]));
    expect(status).toEqual({ 'backup.upload.local': 'succeeded', 'backup.upload.azure': 'succeeded', 'backup.upload.offsite': 'failed', 'backup.staging.trim': 'not-run' });
    const setId = first.json.outputs['backup.uploads'].azure.id;

    await servers.s3.bucket('late-bucket');
    const azBefore = servers.azure.requests.length;
    const s3Before = servers.s3.requests.length;
    const folderFiles = () => fs.readdirSync(folderRepo, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => `${path.join(e.parentPath, e.name)} ${fs.statSync(path.join(e.parentPath, e.name)).mtimeMs}`).sort();
    const folderBefore = folderFiles();
    const resumed = await qsadmin(['runs', 'resume', first.json.runId, '--json', '--state-dir', stateDir], { env: env(noEndpoint), timeout: 300_000 });
    expect(resumed.exitCode, resumed.stderr.slice(-3000)).toBe(0);
    const out = JSON.parse(resumed.stdout);
    expect(Object.keys(out.outputs['backup.uploads']).sort()).toEqual(['azure', 'local', 'offsite']);
    expect(out.steps.find((s: { id: string }) => s.id === 'backup.upload.azure').status).toBe('skipped');
    // Nothing was sent again to the two that had the set: no write reached Azurite, the folder is as it was.
    expect(servers.azure.requests.slice(azBefore).filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
    expect(folderFiles()).toEqual(folderBefore);
    expect(servers.s3.requests.slice(s3Before).some((r) => r.method === 'PUT' && r.url.includes('/site/sets/') && r.url.includes('manifest'))).toBe(true);
    for (const name of ['local', 'azure', 'offsite']) {
      const v = await cli(['backup', 'verify', setId, '--to', name === 'local' ? folderRepo : name === 'azure' ? 'azure://devstoreaccount1/resume/all' : `s3://late-bucket/site?endpoint=${encodeURIComponent(servers.s3.endpoint)}`], noEndpoint);
      expect(v.exitCode, `${name}: ${v.stderr.slice(-1500)}`).toBe(0);
    }

    // site check reads each repository: reachable, its passphrase opens its key (the folder one is not encrypted).
    const checked = await cli(['site', 'check'], noEndpoint);
    expect(checked.exitCode, checked.stdout.slice(-2000)).toBe(0);
    const repoFindings = (j: { findings: Array<{ key: string; ok: boolean; message: string }> }) => j.findings.filter((f) => f.key.startsWith('repositories'));
    expect(repoFindings(checked.json).map((f) => [f.key, f.ok])).toEqual([['repositories[0]', true], ['repositories[1]', true], ['repositories[2]', true]]);
    expect(repoFindings(checked.json)[2].message).toMatch(/offsite: s3:\/\/late-bucket\/site, format 2, encrypted .* 1 set\(s\), newest /);
    const wrong = await cli(['site', 'check'], { ...noEndpoint, QSADMIN_REPO_PASSPHRASE: 'not the passphrase at all' });
    expect(wrong.exitCode).toBe(2);
    expect(repoFindings(wrong.json).map((f) => [f.key, f.ok])).toEqual([['repositories[0]', true], ['repositories[1].passphraseEnv', false], ['repositories[2].passphraseEnv', false]]);
    expect(repoFindings(wrong.json)[1].message).toContain('wrong passphrase');
  }, 400_000);
});
