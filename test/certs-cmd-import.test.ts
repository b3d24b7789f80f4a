// Export and import of certificate sets on emulated certificate stores (no processes): the layout of an export,
// an import into a fresh node, and the bad inputs that must import nothing (wrong password, no key, wrong extension, expired CA...).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCertificateSet, sha256, verifyExportedSet, type CertSetIndex } from '../src/certs/export.js';
import { generateLeaf, generateQlikCertSet, type QlikCertSet } from '../src/certs/generate.js';
import { describeCert } from '../src/certs/inspect.js';
import { importCertificateSet, resolveSetDir, validateCertificateSet } from '../src/certs/import.js';
import { installQlikCertSet, writeLocalCertificatePems } from '../src/certs/install.js';
import { readPfx, writePfx } from '../src/certs/pfx.js';
import { EmulatedCertStore } from '../src/host/emulated/certstore.js';
import { EmulatedFiles } from '../src/host/emulated/files.js';
import { defaultSitePaths, windowsToEmulated } from '../src/host/paths.js';
import type { Host, StoreRef } from '../src/host/types.js';
import { InputError } from '../src/runbook/errors.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const HOST = 'qs-central.corp.test';
const ACCOUNT = 'CORP\\qliksvc';
const PASSWORD = 'correct horse battery';
const STORES: StoreRef[] = [
  { location: 'LocalMachine', name: 'Root' },
  { location: 'CurrentUser', name: 'Root', user: ACCOUNT },
  { location: 'LocalMachine', name: 'My' },
  { location: 'CurrentUser', name: 'My', user: ACCOUNT },
];
const PAST = { notBefore: new Date('2019-01-01T00:00:00Z'), notAfter: new Date('2022-01-01T00:00:00Z') };

let good: QlikCertSet;
let other: QlikCertSet;
let exported: string; // an export of `good`

// A Host over an emulated node folder: certificate stores and files only (what export and import use).
function nodeHost(root: string, name = HOST): Host & { certs: EmulatedCertStore } {
  const files = new EmulatedFiles(root);
  const certs = new EmulatedCertStore(root, ACCOUNT);
  const unused = () => {
    throw new Error('not used by certificate export/import');
  };
  return { name, certs, files, paths: defaultSitePaths(), services: {} as Host['services'], exec: unused, close: async () => undefined };
}

// A node folder whose stores hold a set, as QRS leaves it after its first start.
async function nodeWith(set: QlikCertSet | null, name = HOST): Promise<Host & { certs: EmulatedCertStore }> {
  const host = nodeHost(tempDir('qsadmin-certs-node-'), name);
  if (set) {
    await installQlikCertSet(host.certs, set, ACCOUNT);
    await writeLocalCertificatePems(windowsToEmulated(host.files.root, host.paths.localCertificates), set);
  }
  return host;
}

// Every certificate in the node's four stores, as "store|thumbprint".
async function storeContents(host: Host): Promise<string[]> {
  const out: string[] = [];
  for (const s of STORES) for (const c of await host.certs.list(s)) out.push(`${s.location}\\${s.name}|${c.thumbprint}`);
  return out.sort();
}

// Export a set from a node made for it, into a fresh folder.
async function exportOf(set: QlikCertSet): Promise<string> {
  const dir = path.join(tempDir('qsadmin-certs-set-'), 'central');
  await exportCertificateSet(await nodeWith(set, set.hostname), ACCOUNT, PASSWORD, dir);
  return dir;
}

// Copy a set folder so a test may damage it.
function copySet(dir: string): string {
  const to = path.join(tempDir('qsadmin-certs-copy-'), 'central');
  fs.cpSync(dir, to, { recursive: true });
  return to;
}

// Replace one file of a set and keep certs.json's checksum right, so only the content is wrong.
function replaceFile(dir: string, file: string, bytes: Buffer): void {
  fs.writeFileSync(path.join(dir, file), bytes);
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'certs.json'), 'utf8')) as CertSetIndex;
  for (const e of index) {
    if (e.file !== file) continue;
    e.sha256 = sha256(bytes);
    e.thumbprint = describeCert(readPfx(bytes, PASSWORD).certPem).thumbprint;
  }
  fs.writeFileSync(path.join(dir, 'certs.json'), JSON.stringify(index));
}

// The InputError an import throws (fails the test when it does not throw one).
async function importError(host: Host, dir: string, opts: Partial<Parameters<typeof importCertificateSet>[3]> = {}, password = PASSWORD): Promise<InputError> {
  try {
    await importCertificateSet(host, dir, password, { serviceAccount: ACCOUNT, ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('the import did not fail');
}

beforeAll(async () => {
  const t = Date.now();
  good = generateQlikCertSet(HOST, { keyBits: 1024 });
  other = generateQlikCertSet('qs-other.corp.test', { keyBits: 1024 });
  exported = await exportOf(good);
  console.log(`[certs-cmd-import] two sets and one export: ${Date.now() - t} ms`);
});

afterAll(() => cleanupTempDirs());

describe('exportCertificateSet', () => {
  it('writes the five PFX files, certs.json and the PEM copies, readable only by the caller', async () => {
    const names = fs.readdirSync(exported).sort();
    expect(names).toEqual(['QlikServiceCluster.pfx', 'certs.json', 'client.pfx', 'pem', 'root-currentuser.pfx', 'root.pfx', 'server.pfx']);
    expect(fs.statSync(exported).mode & 0o777).toBe(0o700);
    for (const n of names.filter((x) => x !== 'pem')) expect(fs.statSync(path.join(exported, n)).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.join(exported, 'pem')).sort()).toEqual(['client.pem', 'client_key.pem', 'root.pem', 'server.pem', 'server_key.pem']);
    expect(await verifyExportedSet(exported)).toEqual([]);
    const index = JSON.parse(fs.readFileSync(path.join(exported, 'certs.json'), 'utf8')) as CertSetIndex;
    expect(index.map((e) => [e.file, e.role, `${e.store.location}\\${e.store.name}`, e.qlikExtension, e.hasPrivateKey])).toEqual([
      ['root.pfx', 'root', 'LocalMachine\\Root', 'Root', true],
      ['root-currentuser.pfx', 'root', 'CurrentUser\\Root', 'Root', false],
      ['server.pfx', 'server', 'LocalMachine\\My', 'Server', true],
      ['QlikServiceCluster.pfx', 'serviceCluster', 'LocalMachine\\My', 'Server', true],
      ['client.pfx', 'client', 'CurrentUser\\My', 'Client', true],
    ]);
    expect(index.find((e) => e.file === 'client.pfx')!.store.user).toBe(ACCOUNT);
    for (const e of index) expect(sha256(fs.readFileSync(path.join(exported, e.file)))).toBe(e.sha256);
    expect(readPfx(fs.readFileSync(path.join(exported, 'root.pfx')), PASSWORD).keyPem).toBeTruthy();
    expect(readPfx(fs.readFileSync(path.join(exported, 'root-currentuser.pfx')), PASSWORD).keyPem).toBeNull();
    expect(fs.readFileSync(path.join(exported, 'certs.json'), 'utf8')).not.toContain(PASSWORD);
  });

  it('refuses a node whose client certificate has no private key, naming it', async () => {
    const host = await nodeWith(null);
    await installQlikCertSet(host.certs, good, ACCOUNT);
    const client = (await host.certs.list(STORES[3]))[0];
    await host.certs.put(STORES[3], { certPem: good.client.certPem, keyPem: null });
    await expect(exportCertificateSet(host, ACCOUNT, PASSWORD, path.join(tempDir(), 'x'))).rejects.toThrow(new RegExp(`QlikClient \\(${client.thumbprint}\\).*has no private key`));
  });
});

describe('importCertificateSet', () => {
  it('imports a set into a fresh node: every store, keys exportable and granted to the service account, PEM copies', async () => {
    const host = await nodeWith(null);
    const report = await importCertificateSet(host, exported, PASSWORD, { serviceAccount: ACCOUNT, expectHostname: HOST });
    expect(report.imported.map((c) => `${c.file} → ${c.store}`)).toEqual([
      'root.pfx → LocalMachine\\Root',
      `root-currentuser.pfx → CurrentUser(${ACCOUNT})\\Root`,
      'server.pfx → LocalMachine\\My',
      'QlikServiceCluster.pfx → LocalMachine\\My',
      `client.pfx → CurrentUser(${ACCOUNT})\\My`,
    ]);
    const [lmRoot, cuRoot, lmMy, cuMy] = await Promise.all(STORES.map((s) => host.certs.list(s)));
    expect(lmRoot.map((c) => [c.subject, c.hasPrivateKey])).toEqual([[`${HOST}-CA`, true]]);
    expect(cuRoot.map((c) => [c.subject, c.hasPrivateKey])).toEqual([[`${HOST}-CA`, false]]);
    expect(lmMy.map((c) => c.subject).sort()).toEqual(['QlikServiceCluster', HOST]);
    expect(cuMy.map((c) => c.subject)).toEqual(['QlikClient']);
    const props = await host.certs.properties(STORES[3], cuMy[0].thumbprint);
    expect(props.exportable).toBe(true);
    expect(props.keyAcl).toContain(ACCOUNT);
    const pems = windowsToEmulated(host.files.root, host.paths.localCertificates);
    expect(fs.readFileSync(path.join(pems, 'client.pem'), 'utf8')).toBe(good.client.certPem.replace(/\r\n/g, '\n'));
    expect(fs.statSync(path.join(pems, 'client_key.pem')).mode & 0o777).toBe(0o600);
    // a second import of the same set finds only its own certificates: nothing to refuse
    await importCertificateSet(host, exported, PASSWORD, { serviceAccount: ACCOUNT });
    expect(await storeContents(host)).toHaveLength(5);
  });

  it('refuses a wrong password, naming the file, and imports nothing', async () => {
    const host = await nodeWith(null);
    const err = await importError(host, exported, {}, 'not the password');
    expect(err.message).toContain(`wrong password for ${path.join(exported, 'root.pfx')}`);
    expect(err.message).toContain('nothing was imported');
    expect(err.hint).toMatch(/password/);
    expect(await storeContents(host)).toEqual([]);
  });

  it('refuses a PFX without its private key, naming the file', async () => {
    const dir = copySet(exported);
    replaceFile(dir, 'server.pfx', writePfx({ certPem: good.server.certPem, keyPem: null }, PASSWORD));
    const host = await nodeWith(null);
    const err = await importError(host, dir);
    expect(err.message).toMatch(/server\.pfx: holds no private key for qs-central\.corp\.test/);
    expect(await storeContents(host)).toEqual([]);
  });

  it('refuses a certificate with the wrong Qlik extension for its store, and one without it', async () => {
    const dir = await exportOf(generateQlikCertSet(HOST, { keyBits: 1024, extensionValues: { client: 'Server', server: null } }));
    const host = await nodeWith(null);
    const err = await importError(host, dir);
    expect(err.message).toContain('client.pfx: QlikClient carries the Qlik extension "Server" but CurrentUser\\My requires "Client"');
    expect(err.message).toContain(`server.pfx: ${HOST} has no Qlik extension (OID 1.3.6.1.5.5.7.13.3); LocalMachine\\My requires "Server"`);
    expect(await storeContents(host)).toEqual([]);
  });

  it('refuses a set whose CA has expired', async () => {
    const dir = await exportOf(generateQlikCertSet(HOST, { keyBits: 1024, ...PAST }));
    const host = await nodeWith(null);
    const err = await importError(host, dir);
    expect(err.message).toMatch(/root\.pfx: the CA expired on 2022-01-01T00:00:00\.000Z; renew the certificates \(guide §6\.1\)/);
    expect(await storeContents(host)).toEqual([]);
  });

  it('refuses a server certificate from another CA', async () => {
    const dir = copySet(exported);
    const foreign = generateLeaf(other.root, HOST, 'Server', { kind: 'server', keyBits: 1024 });
    replaceFile(dir, 'server.pfx', writePfx(foreign, PASSWORD));
    const host = await nodeWith(null);
    const err = await importError(host, dir);
    expect(err.message).toContain(`server.pfx: ${HOST} is not signed by the set's CA ${HOST}-CA (it names qs-other.corp.test-CA)`);
    expect(await storeContents(host)).toEqual([]);
  });

  it('refuses a damaged file through its checksum', async () => {
    const dir = copySet(exported);
    const bytes = fs.readFileSync(path.join(dir, 'client.pfx'));
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(path.join(dir, 'client.pfx'), bytes);
    const problems = await validateCertificateSet(dir, PASSWORD);
    expect(problems.filter((p) => p.level === 'error').map((p) => p.file)).toContain(path.join(dir, 'client.pfx'));
  });

  it('refuses a set made for another host unless it is a hostname restore', async () => {
    const host = await nodeWith(null, 'qs-new.corp.test');
    const err = await importError(host, exported, { expectHostname: 'qs-new.corp.test' });
    expect(err.message).toContain(`the set was made for ${HOST}`);
    expect(err.message).toContain('--hostname-restore');
    expect(await storeContents(host)).toEqual([]);
    const report = await importCertificateSet(host, exported, PASSWORD, { serviceAccount: ACCOUNT, expectHostname: 'qs-new.corp.test', allowOtherHost: true });
    expect(report.warnings.join('\n')).toContain('restore to a new hostname');
    expect(await storeContents(host)).toHaveLength(5);
  });

  it('refuses stores that already hold Qlik certificates without replace; replace exports them first', async () => {
    const host = await nodeWith(other, HOST);
    const before = await storeContents(host);
    const err = await importError(host, exported);
    expect(err.message).toMatch(/already holds 5 Qlik certificate\(s\) in the target stores; nothing was imported/);
    expect(err.hint).toContain('--replace');
    expect(await storeContents(host)).toEqual(before);

    const safetyDir = path.join(tempDir(), 'safety');
    const report = await importCertificateSet(host, exported, PASSWORD, { serviceAccount: ACCOUNT, replace: true, safetyDir });
    expect(report.removed).toHaveLength(5);
    expect(report.safety!.files.filter((f) => f.endsWith('.pfx'))).toHaveLength(5);
    expect(fs.statSync(safetyDir).mode & 0o777).toBe(0o700);
    const oldServer = report.safety!.files.find((f) => f.includes('LocalMachine-My-qs-other'))!;
    expect(readPfx(fs.readFileSync(oldServer), PASSWORD).keyPem).toBeTruthy();
    const after = await storeContents(host);
    expect(after).toHaveLength(5);
    expect(after.some((x) => before.includes(x))).toBe(false);
  });

  it('finds the set inside an export folder and a backup set', async () => {
    const top = path.dirname(exported);
    expect(await resolveSetDir(top, { name: 'central', hostname: HOST })).toBe(exported);
    const backup = tempDir();
    fs.mkdirSync(path.join(backup, 'certs'));
    fs.cpSync(exported, path.join(backup, 'certs', 'central'), { recursive: true });
    expect(await resolveSetDir(backup, { name: 'central', hostname: HOST })).toBe(path.join(backup, 'certs', 'central'));
    await expect(resolveSetDir(tempDir(), { name: 'central', hostname: HOST })).rejects.toThrow(/no certificate set found/);
  });
});

describe('exportCertificateSet on a rim node', () => {
  it('exports the CA without its key when the node holds a set issued by another node\'s CA', async () => {
    const rimSet = generateQlikCertSet('qs-rim1.corp.test', { keyBits: 1024, ca: good.root });
    const host = await nodeWith(null, 'qs-rim1.corp.test');
    const { installRimCertificates } = await import('../src/emulator/qrs/certificates.js');
    await installRimCertificates(host.files.root, rimSet, ACCOUNT);
    const dir = path.join(tempDir(), 'rim1');
    const r = await exportCertificateSet(host, ACCOUNT, PASSWORD, dir);
    expect(r.index.find((e) => e.file === 'root.pfx')).toMatchObject({ subject: `${HOST}-CA`, hasPrivateKey: false });
    expect(r.index.find((e) => e.file === 'server.pfx')).toMatchObject({ subject: 'qs-rim1.corp.test', hasPrivateKey: true });
    await expect(exportCertificateSet(host, ACCOUNT, PASSWORD, dir, { isCentral: true })).rejects.toThrow(/has no private key/);
    // it imports onto a rim node (no CA key needed there), not as a central node's set
    const target = await nodeWith(null, 'qs-rim1.corp.test');
    expect((await validateCertificateSet(dir, PASSWORD, { requireRootKey: false })).filter((p) => p.level === 'error')).toEqual([]);
    expect((await validateCertificateSet(dir, PASSWORD)).map((p) => p.code)).toContain('NO_KEY');
    await importCertificateSet(target, dir, PASSWORD, { serviceAccount: ACCOUNT, requireRootKey: false, expectHostname: 'qs-rim1.corp.test' });
    expect(await storeContents(target)).toHaveLength(5);
  });
});
