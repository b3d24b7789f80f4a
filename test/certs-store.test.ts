// The emulated certificate store: folder layout, export/import round trip, refusals like Windows, installing a set, the .Local Certificates PEMs.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCertificates, qrsStartupVerdict } from '../src/certs/check.js';
import { CertError } from '../src/certs/errors.js';
import { generateQlikCertSet } from '../src/certs/generate.js';
import type { QlikCertSet } from '../src/certs/generate.js';
import { describeCert, keyMatchesCert } from '../src/certs/inspect.js';
import { installQlikCertSet, writeLocalCertificatePems } from '../src/certs/install.js';
import { writePfx } from '../src/certs/pfx.js';
import { EmulatedCertStore } from '../src/host/emulated/certstore.js';
import type { StoreRef } from '../src/host/types.js';

const ACCOUNT = 'CORP\\qliksvc';
const HOST = 'store-host.corp.example.com';
const LM_MY: StoreRef = { location: 'LocalMachine', name: 'My' };
const LM_ROOT: StoreRef = { location: 'LocalMachine', name: 'Root' };
const CU_MY: StoreRef = { location: 'CurrentUser', name: 'My', user: ACCOUNT };
const CU_ROOT: StoreRef = { location: 'CurrentUser', name: 'Root', user: ACCOUNT };

let set: QlikCertSet;
let tmp: string;
let n = 0;

beforeAll(async () => {
  set = generateQlikCertSet(HOST);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'qsadmin-certstore-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// A store over a fresh, empty node directory.
function freshStore(): EmulatedCertStore {
  n += 1;
  return new EmulatedCertStore(path.join(tmp, `node${n}`), ACCOUNT);
}

// The CertError a promise rejects with.
async function certErrorOf(p: Promise<unknown>): Promise<CertError> {
  const e = await p.then(() => new Error('expected a CertError, the call succeeded'), (err: unknown) => err);
  expect(e).toBeInstanceOf(CertError);
  return e as CertError;
}

describe('EmulatedCertStore', () => {
  it('keeps certificates as <THUMBPRINT>.crt/.key/.json in Windows-like folders, key mode 0600', async () => {
    const store = freshStore();
    const tp = describeCert(set.server.certPem).thumbprint;
    await store.put(LM_MY, set.server);
    await store.put(CU_MY, set.client);
    const lm = path.join(store.nodeRoot, 'Windows', 'CertStore', 'LocalMachine', 'My');
    expect((await readdir(lm)).sort()).toEqual([`${tp}.crt`, `${tp}.json`, `${tp}.key`]);
    expect((await stat(path.join(lm, `${tp}.key`))).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(store.nodeRoot, 'Users', 'CORP_qliksvc', 'CertStore', 'My', `${describeCert(set.client.certPem).thumbprint}.crt`))).toBe(true);
    expect(store.dirOf({ location: 'CurrentUser', name: 'Root' })).toBe(path.join(store.nodeRoot, 'Users', 'CORP_qliksvc', 'CertStore', 'Root'));
    const [listed] = await store.list(LM_MY);
    expect(listed).toMatchObject({ thumbprint: tp, subject: HOST, issuer: `${HOST}-CA`, hasPrivateKey: true, qlikExtension: 'Server', store: { location: 'LocalMachine', name: 'My' } });
    const [client] = await store.list({ location: 'CurrentUser', name: 'My' });
    expect(client.store).toEqual(CU_MY);
    expect(await store.list(LM_ROOT)).toEqual([]);
  });

  it('round-trips export → import into another node: same thumbprint, key present, exportable, service account granted', async () => {
    const a = freshStore();
    const b = freshStore();
    const put = await a.put(LM_MY, set.server, { friendlyName: 'Qlik server cert' });
    const pfx = await a.exportPfx(LM_MY, put.thumbprint.toLowerCase(), 'Exp0rt!');
    expect(() => tls.createSecureContext({ pfx, passphrase: 'Exp0rt!' })).not.toThrow();
    const imported = await b.importPfx(LM_MY, pfx, 'Exp0rt!');
    expect(imported.thumbprint).toBe(put.thumbprint);
    expect(imported.hasPrivateKey).toBe(true);
    expect(await b.properties(LM_MY, imported.thumbprint)).toEqual({ exportable: true, keyAcl: [ACCOUNT], friendlyName: 'Qlik server cert' });
    expect(keyMatchesCert(set.server.certPem, (await b.privateKeyPem(LM_MY, imported.thumbprint))!)).toBe(true);
    expect((await b.list(LM_MY)).map((c) => c.thumbprint)).toEqual([put.thumbprint]);
    await expect(b.exportPfx(LM_MY, imported.thumbprint, 'again')).resolves.toBeInstanceOf(Buffer);
  });

  it('writes nothing when the PFX password is wrong', async () => {
    const store = freshStore();
    const pfx = writePfx(set.client, 'right');
    const err = await certErrorOf(store.importPfx(CU_MY, pfx, 'wrong'));
    expect(err.code).toBe('BAD_PASSWORD');
    expect(existsSync(store.dirOf(CU_MY))).toBe(false);
  });

  it('refuses to export without a private key, with a key not marked exportable, or a key the account cannot use', async () => {
    const store = freshStore();
    const root = await store.put(CU_ROOT, { certPem: set.root.certPem });
    expect((await certErrorOf(store.exportPfx(CU_ROOT, root.thumbprint, 'pw'))).code).toBe('NO_KEY');
    const locked = await store.put(LM_MY, set.server, { exportable: false });
    expect((await certErrorOf(store.exportPfx(LM_MY, locked.thumbprint, 'pw'))).code).toBe('NOT_EXPORTABLE');
    const other = await store.put(LM_MY, set.serviceCluster, { keyAcl: ['NT AUTHORITY\\SYSTEM'] });
    expect((await certErrorOf(store.exportPfx(LM_MY, other.thumbprint, 'pw'))).code).toBe('KEY_ACCESS_DENIED');
    expect((await certErrorOf(store.exportPfx(LM_MY, '00'.repeat(20), 'pw'))).code).toBe('NOT_FOUND');
  });

  it('replaces a certificate imported again, keeping its key when the new PFX has none', async () => {
    const store = freshStore();
    await store.importPfx(LM_ROOT, writePfx(set.root, 'pw'), 'pw');
    await store.importPfx(LM_ROOT, writePfx({ certPem: set.root.certPem }, 'pw'), 'pw');
    const listed = await store.list(LM_ROOT);
    expect(listed).toHaveLength(1);
    expect(listed[0].hasPrivateKey).toBe(true);
  });

  it('removes a certificate with its key and properties; removing a missing one is an error', async () => {
    const store = freshStore();
    const c = await store.put(LM_MY, set.server);
    await store.remove(LM_MY, c.thumbprint);
    expect(await store.list(LM_MY)).toEqual([]);
    expect(await readdir(store.dirOf(LM_MY))).toEqual([]);
    expect((await certErrorOf(store.remove(LM_MY, c.thumbprint))).code).toBe('NOT_FOUND');
  });
});

describe('installQlikCertSet and writeLocalCertificatePems', () => {
  it('puts the set in its canonical stores (CA key only in LocalMachine\\Root) and the result checks clean', async () => {
    const store = freshStore();
    const installed = await installQlikCertSet(store, set, ACCOUNT);
    expect(installed).toHaveLength(5);
    const stores = [];
    for (const ref of [LM_MY, LM_ROOT, CU_MY, CU_ROOT]) stores.push({ store: ref, certs: await store.list(ref) });
    const summary = stores.map((s) => [s.store.location, s.store.name, s.certs.map((c) => `${c.subject}:${c.hasPrivateKey}:${c.qlikExtension}`).sort()]);
    expect(summary).toEqual([
      ['LocalMachine', 'My', [`${HOST}:true:Server`, 'QlikServiceCluster:true:Server'].sort()],
      ['LocalMachine', 'Root', [`${HOST}-CA:true:Root`]],
      ['CurrentUser', 'My', ['QlikClient:true:Client']],
      ['CurrentUser', 'Root', [`${HOST}-CA:false:Root`]],
    ]);
    const findings = checkCertificates([{ node: 'central', hostname: HOST, isCentral: true, stores }]);
    expect(findings.filter((f) => f.level !== 'ok')).toEqual([]);
    expect(qrsStartupVerdict(stores, HOST)).toMatchObject({ action: 'ok', missing: [], invalid: [] });
  });

  it('writes the five .Local Certificates PEM files, keys with mode 0600', async () => {
    const dir = path.join(tmp, 'Exported Certificates', '.Local Certificates');
    const files = await writeLocalCertificatePems(dir, set);
    expect(files.map((f) => path.basename(f))).toEqual(['client.pem', 'client_key.pem', 'root.pem', 'server.pem', 'server_key.pem']);
    for (const f of files) expect((await stat(f)).mode & 0o777, f).toBe(f.endsWith('_key.pem') ? 0o600 : 0o644);
    const read = (name: string) => readFile(path.join(dir, name), 'utf8');
    expect(keyMatchesCert(await read('server.pem'), await read('server_key.pem'))).toBe(true);
    expect(keyMatchesCert(await read('client.pem'), await read('client_key.pem'))).toBe(true);
    expect(describeCert(await read('root.pem')).subject).toBe(`${HOST}-CA`);
  });
});
