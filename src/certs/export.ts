// Export a node's Qlik certificate set from its stores (guide §5.1): password-protected PFX files with their private keys,
// a certs.json index and the PEM copies; the same layout is used inside backup sets (certs/<node>/).
import { localPrivateFiles } from '../host/private-files.js';
import { X509Certificate, createHash } from 'node:crypto';
import { link, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Host, StoreRef, StoredCert } from '../host/types.js';
import { issuedBy, sameName } from './classify.js';
import { CertError } from './errors.js';
import { certPem, thumbprintOf } from './inspect.js';
import { LOCAL_CERTIFICATE_FILES } from './install.js';
import { readPfx, writePfx } from './pfx.js';
import { SERVICE_CLUSTER_SUBJECT, CLIENT_SUBJECT, caSubject, storeLabelWithUser } from './qlik.js';
import type { QlikCertRole } from './qlik.js';

/** The index file of a set. */
export const SET_INDEX_FILE = 'certs.json';
/** The folder of the PEM copies inside a set. */
export const SET_PEM_DIR = 'pem';

/** The files of a set, what each holds and where it is imported (the user of CurrentUser stores is the service account). */
export const SET_FILES: ReadonlyArray<{ file: string; role: QlikCertRole; store: Omit<StoreRef, 'user'> }> = [
  { file: 'root.pfx', role: 'root', store: { location: 'LocalMachine', name: 'Root' } },
  { file: 'root-currentuser.pfx', role: 'root', store: { location: 'CurrentUser', name: 'Root' } },
  { file: 'server.pfx', role: 'server', store: { location: 'LocalMachine', name: 'My' } },
  { file: 'QlikServiceCluster.pfx', role: 'serviceCluster', store: { location: 'LocalMachine', name: 'My' } },
  { file: 'client.pfx', role: 'client', store: { location: 'CurrentUser', name: 'My' } },
];

/** One certificate of a set as certs.json describes it. */
export interface CertSetEntry {
  file: string;
  role: QlikCertRole;
  store: StoreRef;
  subject: string;
  issuer: string;
  thumbprint: string;
  notAfter: string;
  hasPrivateKey: boolean;
  qlikExtension: string | null;
  /** SHA-256 (hex) of the PFX file. */
  sha256: string;
}

export type CertSetIndex = CertSetEntry[];

export interface ExportedFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the set folder, with forward slashes (e.g. "pem/client.pem"). */
  rel: string;
  bytes: number;
  sha256: string;
}

export interface ExportResult {
  dir: string;
  files: ExportedFile[];
  index: CertSetIndex;
  /** What the set lacks or how it was made (e.g. no QlikServiceCluster); never secrets. */
  warnings: string[];
  /** The PFX files linked from `reuseFrom` instead of exported (relative names). */
  reused: string[];
}

export interface ExportOptions {
  /** The node signs certificates (central): the CA's private key must be exported with it.
   *  Default: true when the CA is the server certificate's own (`<server CN>-CA`), as on a central node; false on a rim node. */
  isCentral?: boolean;
  /**
   * An earlier export of this node's set (a base backup set's certs/<node>): a PFX of it is linked instead of exported
   * again when the store still holds that certificate (same thumbprint, a key exactly where the export would carry
   * one), the file still matches its checksum, and it opens with this export's password holding that certificate.
   * PFX bytes differ at every export (random salts), so comparing them would never find one unchanged.
   */
  reuseFrom?: string;
}

/** The Qlik certificates found in one node's stores. */
export interface LocatedSet {
  ca: StoredCert;
  /** The CA's copy in the service account's CurrentUser\Root, null when it is missing. */
  caCurrentUser: StoredCert | null;
  server: StoredCert;
  serviceCluster: StoredCert | null;
  client: StoredCert;
  warnings: string[];
}

// The four stores a Qlik set lives in, CurrentUser ones as the service account.
export function qlikStores(serviceAccount: string): StoreRef[] {
  return [
    { location: 'LocalMachine', name: 'Root' },
    { location: 'CurrentUser', name: 'Root', user: serviceAccount },
    { location: 'LocalMachine', name: 'My' },
    { location: 'CurrentUser', name: 'My', user: serviceAccount },
  ];
}

// SHA-256 hex of bytes.
export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

// The temporary names the private writer uses (src/host/private-files.ts): <file>.<pid>.<8 hex>.tmp.
const PRIVATE_TMP = /^.+\.\d+\.[0-9a-f]{8}\.tmp$/;

// Remove the private writer's temporary files that a killed run left in a folder (and its pem/ folder): its resume
// writes the files again, and a set checked against its index or manifest must hold nothing else.
export async function removeStaleTemps(dir: string): Promise<void> {
  for (const d of [dir, path.join(dir, SET_PEM_DIR)]) {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      continue;
    }
    for (const n of names.filter((x) => PRIVATE_TMP.test(x))) await rm(path.join(d, n), { force: true });
  }
}

// The one certificate of a list, null for none, a CertError naming the duplicates for more than one.
function single(found: StoredCert[], what: string, where: string, why: string): StoredCert | null {
  if (found.length <= 1) return found[0] ?? null;
  throw new CertError('BAD_CHAIN', `${found.length} ${what} certificates in ${where} (${found.map((c) => `${c.subject} ${c.thumbprint}`).join(', ')}): ${why}`);
}

// The site CA in LocalMachine\Root: a root with the Qlik extension or named <host>-CA; the one that issued the server certificate when there are several.
function locateCa(lmRoot: StoredCert[], lmMy: StoredCert[], hostname: string): StoredCert {
  const roots = lmRoot.filter((c) => c.qlikExtension !== null || sameName(c.subject, caSubject(hostname)));
  if (roots.length === 0) throw new CertError('NOT_FOUND', `no Qlik root certificate (${caSubject(hostname)}, or one with the Qlik extension) in LocalMachine\\Root on ${hostname}`);
  if (roots.length === 1) return roots[0];
  const issuing = roots.filter((r) => lmMy.some((c) => issuedBy(new X509Certificate(c.der), new X509Certificate(r.der))));
  return single(issuing.length ? issuing : roots, 'Qlik root', 'LocalMachine\\Root', 'QRS stops on a second root; delete the unwanted ones first')!;
}

// Certificates of a list that the CA signed.
function signedBy(certs: StoredCert[], ca: StoredCert): StoredCert[] {
  const x = new X509Certificate(ca.der);
  return certs.filter((c) => c.thumbprint !== ca.thumbprint && issuedBy(new X509Certificate(c.der), x));
}

// Find the node's set in its stores: the CA (both copies), the server certificate, QlikServiceCluster and QlikClient.
export async function locateQlikSet(host: Host, serviceAccount: string): Promise<LocatedSet> {
  const [lmRootRef, cuRootRef, lmMyRef, cuMyRef] = qlikStores(serviceAccount);
  const [lmRoot, cuRoot, lmMy, cuMy] = await Promise.all([lmRootRef, cuRootRef, lmMyRef, cuMyRef].map((s) => host.certs.list(s)));
  const ca = locateCa(lmRoot, lmMy, host.name);
  const warnings: string[] = [];
  const leaves = signedBy(lmMy, ca);
  const servers = leaves.filter((c) => !sameName(c.subject, SERVICE_CLUSTER_SUBJECT));
  const preferred = servers.filter((c) => sameName(c.subject, host.name));
  const server = single(preferred.length ? preferred : servers, 'server', 'LocalMachine\\My', 'QRS deletes duplicate server certificates; keep one');
  if (!server) throw new CertError('NOT_FOUND', `no server certificate signed by ${ca.subject} in LocalMachine\\My on ${host.name}`);
  const serviceCluster = single(leaves.filter((c) => sameName(c.subject, SERVICE_CLUSTER_SUBJECT)), 'QlikServiceCluster', 'LocalMachine\\My', 'keep the one the site uses');
  if (!serviceCluster) warnings.push(`no QlikServiceCluster certificate signed by ${ca.subject} in LocalMachine\\My: the set is exported without it`);
  const clients = signedBy(cuMy, ca);
  const named = clients.filter((c) => sameName(c.subject, CLIENT_SUBJECT));
  const client = single(named.length ? named : clients, 'client', storeLabelWithUser(cuMyRef), 'QRS deletes duplicate client certificates; keep one');
  if (!client) throw new CertError('NOT_FOUND', `no client certificate (QlikClient) signed by ${ca.subject} in ${storeLabelWithUser(cuMyRef)} on ${host.name}`);
  const caCurrentUser = cuRoot.find((c) => c.thumbprint === ca.thumbprint) ?? null;
  if (!caCurrentUser) warnings.push(`the CA ${ca.subject} is missing from ${storeLabelWithUser(cuRootRef)}: root-currentuser.pfx is written from the LocalMachine\\Root copy`);
  return { ca, caCurrentUser, server, serviceCluster, client, warnings };
}

// True when the set's CA is the node's own (`<server CN>-CA`): a central node, whose CA key must be exported.
function ownsCa(set: LocatedSet): boolean {
  return sameName(caSubject(set.server.subject), set.ca.subject);
}

// The PFX bytes of one certificate: exported with its key by the store, or written without a key when it has none.
async function pfxOf(host: Host, cert: StoredCert, store: StoreRef, password: string, needsKey: boolean): Promise<Buffer> {
  if (cert.hasPrivateKey) return host.certs.exportPfx(store, cert.thumbprint, password);
  if (needsKey) {
    throw new CertError('NO_KEY', `${cert.subject} (${cert.thumbprint}) in ${storeLabelWithUser(store)} on ${host.name} has no private key: a set without it cannot restore the site`);
  }
  return writePfx({ certPem: certPem(cert.der), keyPem: null }, password);
}

// The certs.json entry of one exported certificate.
function entryOf(file: string, role: QlikCertRole, store: StoreRef, cert: StoredCert, bytes: Buffer, hasKey: boolean): CertSetEntry {
  return {
    file,
    role,
    store,
    subject: cert.subject,
    issuer: cert.issuer,
    thumbprint: cert.thumbprint,
    notAfter: cert.notAfter.toISOString(),
    hasPrivateKey: hasKey,
    qlikExtension: cert.qlikExtension,
    sha256: sha256(bytes),
  };
}

// Write one file of the set and record it.
// Through the local private writer: the set is written on the machine qsadmin runs on, whichever node's stores it
// comes from (0600 files in 0700 folders; on Windows a folder ACL for the caller and SYSTEM that its files inherit).
async function record(host: Host, dir: string, rel: string, data: Buffer, files: ExportedFile[]): Promise<void> {
  const file = path.join(dir, ...rel.split('/'));
  await localPrivateFiles.writePrivate(file, data);
  files.push({ path: file, rel, bytes: data.length, sha256: sha256(data) });
}

// Copy the PEM files of Exported Certificates\.Local Certificates (or the dot-less spelling) into pem/; returns the folder used, if any.
async function copyLocalPems(host: Host, dir: string, files: ExportedFile[]): Promise<string | null> {
  const candidates = [host.paths.localCertificates, path.win32.join(host.paths.exportedCertificates, 'Local Certificates')];
  for (const folder of candidates) {
    const present = [];
    for (const name of LOCAL_CERTIFICATE_FILES) if (await host.files.exists(path.win32.join(folder, name))) present.push(name);
    if (present.length === 0) continue;
    await localPrivateFiles.mkdirPrivate(path.join(dir, SET_PEM_DIR));
    for (const name of present) await record(host, dir, `${SET_PEM_DIR}/${name}`, await host.files.read(path.win32.join(folder, name)), files);
    return folder;
  }
  return null;
}

// Export the node's whole set into destDir (0700): five PFX files (0600), certs.json, and pem/ with the PEM copies.
export async function exportCertificateSet(host: Host, serviceAccount: string, password: string, destDir: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const set = await locateQlikSet(host, serviceAccount);
  const isCentral = opts.isCentral ?? ownsCa(set);
  const dir = path.resolve(destDir);
  await localPrivateFiles.mkdirPrivate(dir);
  await removeStaleTemps(dir);
  const files: ExportedFile[] = [];
  const index: CertSetIndex = [];
  const warnings = [...set.warnings];
  const reused: string[] = [];
  const base = opts.reuseFrom ? await readEarlierSet(opts.reuseFrom) : null;
  const stores = qlikStores(serviceAccount);
  const storeOf = (s: Omit<StoreRef, 'user'>) => stores.find((x) => x.location === s.location && x.name === s.name)!;
  const sources: Record<string, { cert: StoredCert | null; from: StoreRef; needsKey: boolean }> = {
    'root.pfx': { cert: set.ca, from: storeOf(SET_FILES[0].store), needsKey: isCentral },
    'root-currentuser.pfx': { cert: set.caCurrentUser ?? set.ca, from: set.caCurrentUser ? storeOf(SET_FILES[1].store) : storeOf(SET_FILES[0].store), needsKey: false },
    'server.pfx': { cert: set.server, from: storeOf(SET_FILES[2].store), needsKey: true },
    'QlikServiceCluster.pfx': { cert: set.serviceCluster, from: storeOf(SET_FILES[3].store), needsKey: false },
    'client.pfx': { cert: set.client, from: storeOf(SET_FILES[4].store), needsKey: true },
  };
  for (const spec of SET_FILES) {
    const src = sources[spec.file];
    if (!src.cert) continue;
    // The CurrentUser\Root copy never needs the CA key: write it key-less even when the store has one.
    const keyless = spec.file === 'root-currentuser.pfx';
    const withKey = !keyless && src.cert.hasPrivateKey;
    const earlier = base && (keyless || withKey || !src.needsKey) ? await reusablePfx(base, spec.file, src.cert, withKey, password) : null;
    if (earlier) {
      await linkPfx(earlier, dir, spec.file, files);
      reused.push(spec.file);
      index.push(entryOf(spec.file, spec.role, storeOf(spec.store), src.cert, earlier.bytes, withKey));
      continue;
    }
    const bytes = keyless ? writePfx({ certPem: certPem(src.cert.der), keyPem: null }, password) : await pfxOf(host, src.cert, src.from, password, src.needsKey);
    if (!keyless && !src.cert.hasPrivateKey && spec.role !== 'root') warnings.push(`${src.cert.subject} has no private key in ${storeLabelWithUser(src.from)}: ${spec.file} holds the certificate only`);
    await record(host, dir, spec.file, bytes, files);
    index.push(entryOf(spec.file, spec.role, storeOf(spec.store), src.cert, bytes, !keyless && src.cert.hasPrivateKey));
  }
  for (const spec of SET_FILES) if (!index.some((e) => e.file === spec.file)) await rm(path.join(dir, spec.file), { force: true }); // left from an older export
  const pemFolder = await copyLocalPems(host, dir, files);
  if (!pemFolder) warnings.push(`no PEM copies found in ${host.paths.localCertificates}: the set has no pem/ folder`);
  await record(host, dir, SET_INDEX_FILE, Buffer.from(JSON.stringify(index, null, 2) + '\n', 'utf8'), files);
  return { dir, files, index, warnings, reused };
}

interface EarlierSet {
  dir: string;
  index: CertSetIndex;
}

interface EarlierPfx {
  file: string;
  bytes: Buffer;
}

// The index of an earlier export, or null when it has none or an unreadable one (then everything is exported).
async function readEarlierSet(dir: string): Promise<EarlierSet | null> {
  try {
    const index = await readSetIndex(dir);
    return index ? { dir, index } : null;
  } catch {
    return null;
  }
}

// The earlier export's PFX of this certificate when it can stand for a new export (see ExportOptions.reuseFrom), else null.
async function reusablePfx(base: EarlierSet, file: string, cert: StoredCert, withKey: boolean, password: string): Promise<EarlierPfx | null> {
  const entry = base.index.find((e) => e.file === file);
  if (!entry || entry.thumbprint !== cert.thumbprint || entry.hasPrivateKey !== withKey) return null;
  const full = path.join(base.dir, file);
  let bytes: Buffer;
  try {
    bytes = await readFile(full);
  } catch {
    return null;
  }
  if (sha256(bytes) !== entry.sha256) return null;
  try {
    const got = readPfx(bytes, password, full);
    if (thumbprintOf(got.certPem) !== cert.thumbprint || (got.keyPem !== null) !== withKey) return null;
  } catch {
    return null; // another password (or a damaged file): a restore with this run's password could not open it
  }
  return { file: full, bytes };
}

// Hard-link the earlier PFX into the set (its bytes written where linking is impossible) and record it.
async function linkPfx(earlier: EarlierPfx, dir: string, rel: string, files: ExportedFile[]): Promise<void> {
  const file = path.join(dir, rel);
  await rm(file, { force: true });
  try {
    await link(earlier.file, file);
  } catch {
    await localPrivateFiles.writePrivate(file, earlier.bytes);
  }
  files.push({ path: file, rel, bytes: earlier.bytes.length, sha256: sha256(earlier.bytes) });
}

// Read certs.json of a set; null when there is none, a CertError when it is not a valid index.
export async function readSetIndex(dir: string): Promise<CertSetIndex | null> {
  const file = path.join(dir, SET_INDEX_FILE);
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new CertError('CORRUPT', `${file} is not valid JSON (${(e as Error).message}): export the set again`, { file, cause: e });
  }
  if (!Array.isArray(parsed) || parsed.some((x) => !x || typeof x !== 'object' || typeof (x as CertSetEntry).file !== 'string')) {
    throw new CertError('CORRUPT', `${file} is not a certificate set index (a list of {file, role, store, thumbprint, sha256, ...})`, { file });
  }
  return parsed as CertSetIndex;
}

// Problems of an exported set on disk: missing index, missing files, files whose checksum differs. Empty when intact.
export async function verifyExportedSet(dir: string): Promise<string[]> {
  let index: CertSetIndex | null;
  try {
    index = await readSetIndex(dir);
  } catch (e) {
    return [(e as Error).message];
  }
  if (!index) return [`${path.join(dir, SET_INDEX_FILE)} is missing`];
  const problems: string[] = [];
  for (const e of index) {
    const file = path.join(dir, e.file);
    try {
      const got = sha256(await readFile(file));
      if (got !== e.sha256) problems.push(`${file} does not match its checksum in ${SET_INDEX_FILE} (damaged or changed)`);
    } catch {
      problems.push(`${file} is missing`);
    }
  }
  return problems;
}

// True when an exported set on disk is intact and holds the certificates the node's stores hold now (a re-run can skip it).
export async function exportMatchesStores(host: Host, serviceAccount: string, dir: string): Promise<boolean> {
  if ((await verifyExportedSet(dir)).length > 0) return false;
  const index = (await readSetIndex(dir))!;
  let set: LocatedSet;
  try {
    set = await locateQlikSet(host, serviceAccount);
  } catch {
    return false;
  }
  const now: Record<string, string | undefined> = {
    'root.pfx': set.ca.thumbprint,
    'root-currentuser.pfx': set.ca.thumbprint,
    'server.pfx': set.server.thumbprint,
    'QlikServiceCluster.pfx': set.serviceCluster?.thumbprint,
    'client.pfx': set.client.thumbprint,
  };
  return SET_FILES.every((f) => index.find((e) => e.file === f.file)?.thumbprint === now[f.file]);
}
