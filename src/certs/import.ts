// Import a Qlik certificate set into a node's stores (guide §5.1): everything is validated first, existing Qlik
// certificates are refused (or, with replace, exported to a safety folder and removed), then the set is imported.
import { localPrivateFiles } from '../host/private-files.js';
import { X509Certificate } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Host, StoreRef, StoredCert } from '../host/types.js';
import { InputError } from '../runbook/errors.js';
import { issuedBy, qlikContext, qlikRoleOf, sameName } from './classify.js';
import { CertError } from './errors.js';
import { SET_FILES, SET_INDEX_FILE, qlikStores, readSetIndex, sha256 } from './export.js';
import type { CertSetEntry, CertSetIndex } from './export.js';
import { describeCert } from './inspect.js';
import type { CertInfo } from './inspect.js';
import { readPfx, writePfx } from './pfx.js';
import type { PfxContents } from './pfx.js';
import { expectedExtension, storeLabel, storeLabelWithUser } from './qlik.js';
import type { QlikCertRole } from './qlik.js';

export interface SetProblem {
  level: 'error' | 'warning';
  /** The file concerned (absolute), or the set folder. */
  file: string;
  code: string;
  message: string;
}

export interface ValidateOptions {
  /** The target node's Qlik hostname: a set made for another host is refused unless allowOtherHost. */
  expectHostname?: string;
  /** Accept a set from another host (a restore to a new hostname, guide §5.7). */
  allowOtherHost?: boolean;
  /** The CA's private key must be in root.pfx (the target is a central node; default true). */
  requireRootKey?: boolean;
  now?: Date;
}

/** One certificate of a set, read and ready to import. */
export interface LoadedCert {
  file: string;
  role: QlikCertRole;
  /** Target store without the CurrentUser account (the importer's service account is used). */
  store: Omit<StoreRef, 'user'>;
  pfx: Buffer;
  contents: PfxContents;
  info: CertInfo;
}

export interface LoadedSet {
  dir: string;
  /** The hostname the set was made for: the server certificate's CN. */
  hostname: string;
  ca: CertInfo;
  certs: LoadedCert[];
}

export interface ImportOptions extends ValidateOptions {
  serviceAccount: string;
  /** Replace Qlik certificates already in the target stores (they are exported to safetyDir first). */
  replace?: boolean;
  /** Where replaced certificates are exported (required with replace). */
  safetyDir?: string;
  /** Also write the PEM copies to Exported Certificates\.Local Certificates (default true). */
  writePems?: boolean;
}

export interface ImportedCert {
  file: string;
  role: QlikCertRole;
  store: string;
  subject: string;
  thumbprint: string;
}

export interface ImportReport {
  node: string;
  setHostname: string;
  imported: ImportedCert[];
  removed: Array<{ store: string; subject: string; thumbprint: string }>;
  safety?: SafetyExport;
  pemFiles: string[];
  warnings: string[];
}

export interface SafetyExport {
  dir: string;
  files: string[];
}

// A problem about one file.
function problem(level: SetProblem['level'], file: string, code: string, message: string): SetProblem {
  return { level, file, code, message };
}

// The expected Qlik extension value of a role in its store; null for QlikServiceCluster (the guide is silent).
function wantedExtension(role: QlikCertRole, store: Omit<StoreRef, 'user'>): string | null {
  return role === 'serviceCluster' ? null : expectedExtension(store as StoreRef);
}

// Problems of one certificate judged against the target store: extension, key, validity.
function certProblems(c: LoadedCert, o: ValidateOptions, now: Date): SetProblem[] {
  const out: SetProblem[] = [];
  const where = storeLabel(c.store as StoreRef);
  const want = wantedExtension(c.role, c.store);
  const got = c.info.qlikExtension;
  if (want && got === null) out.push(problem('error', c.file, 'NO_EXTENSION', `${c.file}: ${c.info.subject} has no Qlik extension (OID 1.3.6.1.5.5.7.13.3); ${where} requires "${want}"`));
  else if (want && got !== want) out.push(problem('error', c.file, 'WRONG_EXTENSION', `${c.file}: ${c.info.subject} carries the Qlik extension "${got}" but ${where} requires "${want}"`));
  else if (!want && got !== null && got !== 'Server') out.push(problem('warning', c.file, 'WRONG_EXTENSION', `${c.file}: ${c.info.subject} carries the Qlik extension "${got}" (LocalMachine\\My would say "Server")`));
  const needsKey = c.role === 'server' || c.role === 'client' || (path.basename(c.file) === 'root.pfx' && (o.requireRootKey ?? true));
  if (!c.contents.keyPem) {
    if (needsKey) out.push(problem('error', c.file, 'NO_KEY', `${c.file}: holds no private key for ${c.info.subject}; ${c.role === 'root' ? 'the central node signs certificates with the CA key' : 'the certificate is useless without it'}: export it again with the private key`));
    else if (c.role === 'serviceCluster') out.push(problem('warning', c.file, 'NO_KEY', `${c.file}: holds no private key for ${c.info.subject}`));
  }
  if (now < c.info.notBefore) out.push(problem('error', c.file, 'NOT_YET_VALID', `${c.file}: ${c.info.subject} is not valid before ${c.info.notBefore.toISOString()} (check the clock)`));
  if (now > c.info.notAfter) {
    const what = c.role === 'root' ? 'the CA' : c.info.subject;
    out.push(problem('error', c.file, 'EXPIRED', `${c.file}: ${what} expired on ${c.info.notAfter.toISOString()}; renew the certificates (guide §6.1) instead of importing them`));
  }
  return out;
}

// Chain problems: the CA is self-signed and a CA; every leaf is signed by it; the CurrentUser\Root copy is the same CA.
function chainProblems(set: LoadedSet, rootFile: string): SetProblem[] {
  const out: SetProblem[] = [];
  const ca = new X509Certificate(set.ca.der);
  if (!issuedBy(ca, ca) || !set.ca.isCA) out.push(problem('error', rootFile, 'BAD_CHAIN', `${rootFile}: ${set.ca.subject} is not a self-signed CA certificate`));
  for (const c of set.certs) {
    if (c.role === 'root') {
      if (c.info.thumbprint !== set.ca.thumbprint) out.push(problem('error', c.file, 'BAD_CHAIN', `${c.file}: holds ${c.info.subject} (${c.info.thumbprint}), not the CA of root.pfx (${set.ca.thumbprint})`));
      continue;
    }
    if (!issuedBy(new X509Certificate(c.info.der), ca)) {
      out.push(problem('error', c.file, 'BAD_CHAIN', `${c.file}: ${c.info.subject} is not signed by the set's CA ${set.ca.subject} (it names ${c.info.issuer}): it comes from another site or CA`));
    }
  }
  return out;
}

// Problems of the index against the files: checksum and thumbprint.
function indexProblems(entry: CertSetEntry | undefined, c: LoadedCert): SetProblem[] {
  if (!entry) return [];
  const out: SetProblem[] = [];
  if (entry.sha256 && entry.sha256 !== sha256(c.pfx)) out.push(problem('error', c.file, 'CHECKSUM', `${c.file}: does not match its checksum in ${SET_INDEX_FILE} (damaged or changed since export)`));
  if (entry.thumbprint && entry.thumbprint !== c.info.thumbprint) out.push(problem('error', c.file, 'INDEX_MISMATCH', `${c.file}: holds ${c.info.thumbprint} but ${SET_INDEX_FILE} lists ${entry.thumbprint}`));
  return out;
}

// Read one PFX of the set; a problem (wrong password, damage) instead of a certificate when it cannot be read.
async function loadOne(dir: string, spec: (typeof SET_FILES)[number], password: string): Promise<LoadedCert | SetProblem | null> {
  const file = path.join(dir, spec.file);
  let pfx: Buffer;
  try {
    pfx = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return problem('error', file, 'UNREADABLE', `${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  try {
    const contents = readPfx(pfx, password, file);
    return { file, role: spec.role, store: spec.store, pfx, contents, info: describeCert(contents.certPem) };
  } catch (e) {
    const code = e instanceof CertError ? e.code : 'CORRUPT';
    return problem('error', file, code, (e as Error).message);
  }
}

// True when a value is a SetProblem.
function isProblem(x: unknown): x is SetProblem {
  return !!x && typeof x === 'object' && 'level' in x && 'code' in x;
}

// Read and judge a set: the certificates (when readable) and every problem found. Writes nothing.
export async function loadCertificateSet(srcDir: string, password: string, o: ValidateOptions = {}): Promise<{ set: LoadedSet | null; problems: SetProblem[] }> {
  const dir = path.resolve(srcDir);
  const problems: SetProblem[] = [];
  let index: CertSetIndex | null = null;
  try {
    index = await readSetIndex(dir);
    if (!index) problems.push(problem('warning', path.join(dir, SET_INDEX_FILE), 'NO_INDEX', `${dir} has no ${SET_INDEX_FILE}: the files' checksums cannot be checked`));
  } catch (e) {
    problems.push(problem('error', path.join(dir, SET_INDEX_FILE), 'CORRUPT', (e as Error).message));
  }
  const certs: LoadedCert[] = [];
  for (const spec of SET_FILES) {
    const got = await loadOne(dir, spec, password);
    if (got === null) {
      const required = spec.file === 'root.pfx' || spec.file === 'server.pfx' || spec.file === 'client.pfx';
      const listed = index?.some((e) => e.file === spec.file);
      problems.push(problem(required || listed ? 'error' : 'warning', path.join(dir, spec.file), 'MISSING_FILE',
        `${path.join(dir, spec.file)} is missing${required ? '' : spec.file === 'QlikServiceCluster.pfx' ? ': QlikServiceCluster is not imported' : ': the CA is put into CurrentUser\\Root from root.pfx'}`));
    } else if (isProblem(got)) problems.push(got);
    else {
      certs.push(got);
      problems.push(...indexProblems(index?.find((e) => e.file === spec.file), got));
    }
  }
  const root = certs.find((c) => c.file.endsWith(`${path.sep}root.pfx`));
  const server = certs.find((c) => c.role === 'server');
  if (!root || !server) {
    return { set: null, problems: [...problems, ...certs.flatMap((c) => certProblems(c, o, o.now ?? new Date()))] };
  }
  const set: LoadedSet = { dir, hostname: server.info.subject, ca: root.info, certs };
  problems.push(...certs.flatMap((c) => certProblems(c, o, o.now ?? new Date())), ...chainProblems(set, root.file));
  if (o.expectHostname && !sameName(o.expectHostname, set.hostname)) {
    problems.push(o.allowOtherHost
      ? problem('warning', server.file, 'OTHER_HOST', `the set was made for ${set.hostname}; it is imported onto ${o.expectHostname} for a restore to a new hostname`)
      : problem('error', server.file, 'OTHER_HOST', `${server.file}: the set was made for ${set.hostname} (CA ${set.ca.subject}) but this node's Qlik hostname is ${o.expectHostname}; for a restore to a new hostname (guide §5.7) say so with --hostname-restore`));
  }
  return { set, problems };
}

// Validate a set without writing anything: every problem, errors and warnings (empty when the set is clean).
export async function validateCertificateSet(srcDir: string, password: string, o: ValidateOptions = {}): Promise<SetProblem[]> {
  return (await loadCertificateSet(srcDir, password, o)).problems;
}

// The errors of a list of problems as one InputError (exit 2), naming every file and problem.
export function problemsError(dir: string, problems: SetProblem[]): InputError {
  const errors = problems.filter((p) => p.level === 'error');
  const lines = errors.map((p) => `  - ${p.message}`).join('\n');
  return new InputError(`the certificate set in ${dir} cannot be imported; nothing was imported:\n${lines}`,
    errors.some((p) => p.code === 'BAD_PASSWORD') ? 'give the password the set was exported with (the variable named by --password-env)' : 'fix the set (export it again from the source node) or use another backup');
}

// Load a set and throw an InputError when it has any error; returns the set and its warnings.
export async function requireValidSet(srcDir: string, password: string, o: ValidateOptions = {}): Promise<{ set: LoadedSet; warnings: string[] }> {
  const { set, problems } = await loadCertificateSet(srcDir, password, o);
  if (!set || problems.some((p) => p.level === 'error')) throw problemsError(path.resolve(srcDir), problems);
  return { set, warnings: problems.filter((p) => p.level === 'warning').map((p) => p.message) };
}

// The target store of a set certificate on this node (CurrentUser stores as the service account).
export function targetStore(c: Pick<LoadedCert, 'store'>, serviceAccount: string): StoreRef {
  return c.store.location === 'CurrentUser' ? { ...c.store, user: serviceAccount } : { ...c.store };
}

// The set's certificates per target store, including the CurrentUser\Root copy made from root.pfx when its file is missing.
export function placements(set: LoadedSet, serviceAccount: string): Array<{ cert: LoadedCert; store: StoreRef; pfx: Buffer; password?: string }> {
  const out = set.certs.map((cert) => ({ cert, store: targetStore(cert, serviceAccount), pfx: cert.pfx }));
  if (!set.certs.some((c) => c.role === 'root' && c.store.location === 'CurrentUser')) {
    const root = set.certs.find((c) => c.role === 'root')!;
    out.splice(1, 0, { cert: { ...root, store: { location: 'CurrentUser', name: 'Root' }, file: path.join(set.dir, 'root-currentuser.pfx (from root.pfx)') }, store: { location: 'CurrentUser', name: 'Root', user: serviceAccount }, pfx: root.pfx });
  }
  return out;
}

// Qlik certificates in the node's four stores that are not the set's own certificate for that store.
export async function findConflicts(host: Host, set: LoadedSet, serviceAccount: string): Promise<StoredCert[]> {
  const ctx = qlikContext(host.name, set.ca.subject);
  const ours = new Set(placements(set, serviceAccount).map((p) => `${storeLabel(p.store)}|${p.cert.info.thumbprint}`));
  const out: StoredCert[] = [];
  for (const store of qlikStores(serviceAccount)) {
    for (const c of await host.certs.list(store)) {
      if (qlikRoleOf(c, store, ctx) === null) continue;
      if (!ours.has(`${storeLabel(store)}|${c.thumbprint}`)) out.push({ ...c, store });
    }
  }
  return out;
}

// The refusal when the target stores already hold Qlik certificates and replace was not asked for.
export function conflictsError(host: Host, conflicts: StoredCert[]): InputError {
  const list = conflicts.map((c) => `  - ${c.subject} (${c.thumbprint}) in ${storeLabelWithUser(c.store)}`).join('\n');
  return new InputError(`${host.name} already holds ${conflicts.length} Qlik certificate(s) in the target stores; nothing was imported:\n${list}`,
    'pass --replace to export them to a safety folder and replace them, or import onto a node where Qlik Sense has not started yet');
}

// A file name for a replaced certificate: store, subject and thumbprint.
function safetyName(c: StoredCert): string {
  return `${c.store.location}-${c.store.name}-${c.subject.replace(/[^A-Za-z0-9._-]+/g, '_')}-${c.thumbprint}.pfx`;
}

// Export certificates about to be replaced into a 0700 folder (0600 files, with keys where they have them) and an index.
export async function exportSafetyCopy(host: Host, certs: StoredCert[], password: string, dir: string): Promise<SafetyExport> {
  await localPrivateFiles.mkdirPrivate(dir);
  const files: string[] = [];
  const index: CertSetIndex = [];
  for (const c of certs) {
    const bytes = c.hasPrivateKey ? await host.certs.exportPfx(c.store, c.thumbprint, password) : writePfx({ certPem: describeCert(c.der).pem, keyPem: null }, password);
    const name = safetyName(c);
    await localPrivateFiles.writePrivate(path.join(dir, name), bytes);
    files.push(path.join(dir, name));
    index.push({ file: name, role: qlikRoleOf(c, c.store, qlikContext(host.name)) ?? 'server', store: c.store, subject: c.subject, issuer: c.issuer, thumbprint: c.thumbprint, notAfter: c.notAfter.toISOString(), hasPrivateKey: c.hasPrivateKey, qlikExtension: c.qlikExtension, sha256: sha256(bytes) });
  }
  await localPrivateFiles.writePrivate(path.join(dir, 'replaced.json'), JSON.stringify(index, null, 2) + '\n');
  files.push(path.join(dir, 'replaced.json'));
  return { dir, files };
}

// True when a safety folder holds an export of every certificate listed (for resume).
export async function safetyCopyComplete(dir: string, certs: StoredCert[]): Promise<boolean> {
  try {
    const index = JSON.parse(await readFile(path.join(dir, 'replaced.json'), 'utf8')) as CertSetIndex;
    return certs.every((c) => index.some((e) => e.thumbprint === c.thumbprint && storeLabel(e.store) === storeLabel(c.store)));
  } catch {
    return false;
  }
}

// Remove certificates from their stores.
export async function removeCertificates(host: Host, certs: StoredCert[]): Promise<Array<{ store: string; subject: string; thumbprint: string }>> {
  const removed = [];
  for (const c of certs) {
    await host.certs.remove(c.store, c.thumbprint);
    removed.push({ store: storeLabelWithUser(c.store), subject: c.subject, thumbprint: c.thumbprint });
  }
  return removed;
}

// Import every certificate of the set into its store (key marked exportable, the service account granted the key, by the driver).
export async function importIntoStores(host: Host, set: LoadedSet, password: string, serviceAccount: string): Promise<ImportedCert[]> {
  const out: ImportedCert[] = [];
  for (const p of placements(set, serviceAccount)) {
    // The CA key belongs in LocalMachine\Root only: the CurrentUser\Root copy is imported without it.
    const keyless = p.store.name === 'Root' && p.store.location === 'CurrentUser' && !!p.cert.contents.keyPem;
    const bytes = keyless ? writePfx({ certPem: p.cert.contents.certPem, keyPem: null }, password) : p.pfx;
    const stored = await host.certs.importPfx(p.store, bytes, password);
    out.push({ file: path.basename(p.cert.file), role: p.cert.role, store: storeLabelWithUser(p.store), subject: stored.subject, thumbprint: stored.thumbprint });
  }
  return out;
}

// True when every certificate of the set sits in its store, with its key where the set has one.
export async function setInstalled(host: Host, set: LoadedSet, serviceAccount: string): Promise<boolean> {
  for (const p of placements(set, serviceAccount)) {
    const found = (await host.certs.list(p.store)).find((c) => c.thumbprint === p.cert.info.thumbprint);
    if (!found) return false;
    const wantsKey = !!p.cert.contents.keyPem && !(p.cert.role === 'root' && p.store.location === 'CurrentUser');
    if (wantsKey && !found.hasPrivateKey) return false;
  }
  return true;
}

// The PEM copies Qlik keeps in Exported Certificates\.Local Certificates, made from the set (keys as PKCS#1, like Qlik's).
export function localPemFiles(set: LoadedSet): Array<{ name: string; data: string; mode: number }> {
  const pick = (role: QlikCertRole) => set.certs.find((c) => c.role === role && c.store.location === (role === 'client' ? 'CurrentUser' : 'LocalMachine'));
  const client = pick('client')!;
  const server = pick('server')!;
  return [
    { name: 'client.pem', data: client.contents.certPem, mode: 0o644 },
    { name: 'client_key.pem', data: client.contents.keyPem ?? '', mode: 0o600 },
    { name: 'root.pem', data: set.ca.pem, mode: 0o644 },
    { name: 'server.pem', data: server.contents.certPem, mode: 0o644 },
    { name: 'server_key.pem', data: server.contents.keyPem ?? '', mode: 0o600 },
  ];
}

// Write the PEM copies to the node's Exported Certificates\.Local Certificates; returns the Windows paths written.
export async function writeLocalCopies(host: Host, set: LoadedSet): Promise<string[]> {
  const written: string[] = [];
  for (const f of localPemFiles(set)) {
    const p = path.win32.join(host.paths.localCertificates, f.name);
    await host.files.write(p, f.data, { mode: f.mode });
    written.push(p);
  }
  return written;
}

// True when the node's PEM copies are those of the set.
export async function localCopiesMatch(host: Host, set: LoadedSet): Promise<boolean> {
  for (const f of localPemFiles(set)) {
    const p = path.win32.join(host.paths.localCertificates, f.name);
    if (!(await host.files.exists(p)) || (await host.files.read(p)).toString('utf8') !== f.data) return false;
  }
  return true;
}

// Validate, refuse or set aside what is there, then import the set into the node's stores (and its PEM copies).
export async function importCertificateSet(host: Host, srcDir: string, password: string, o: ImportOptions): Promise<ImportReport> {
  const { set, warnings } = await requireValidSet(srcDir, password, { requireRootKey: true, ...o });
  const conflicts = await findConflicts(host, set, o.serviceAccount);
  if (conflicts.length > 0 && !o.replace) throw conflictsError(host, conflicts);
  if (conflicts.length > 0 && !o.safetyDir) throw new InputError('replacing certificates needs a safety folder to export them to first (safetyDir)');
  const report: ImportReport = { node: host.name, setHostname: set.hostname, imported: [], removed: [], pemFiles: [], warnings };
  if (conflicts.length > 0) {
    report.safety = await exportSafetyCopy(host, conflicts, password, o.safetyDir!);
    report.removed = await removeCertificates(host, conflicts);
  }
  report.imported = await importIntoStores(host, set, password, o.serviceAccount);
  if (o.writePems ?? true) report.pemFiles = await writeLocalCopies(host, set);
  return report;
}

// True when a folder holds a certificate set (certs.json or root.pfx).
async function holdsSet(dir: string): Promise<boolean> {
  for (const f of [SET_INDEX_FILE, 'root.pfx']) {
    try {
      if ((await stat(path.join(dir, f))).isFile()) return true;
    } catch {
      // not there
    }
  }
  return false;
}

// Sub-folders of a folder that hold a set.
async function setSubfolders(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
  const out = [];
  for (const n of names.sort()) if (await holdsSet(path.join(dir, n))) out.push(path.join(dir, n));
  return out;
}

// Find the set for a node in what the operator gave: a set folder, an export with one folder per node, or a backup set (certs/<node>/).
export async function resolveSetDir(source: string, node: { name: string; hostname: string }): Promise<string> {
  const abs = path.resolve(source);
  let st;
  try {
    st = await stat(abs);
  } catch {
    throw new InputError(`${abs} does not exist`, 'give the folder written by `qsadmin certs export` or a backup set folder');
  }
  if (!st.isDirectory()) throw new InputError(`${abs} is a file: give a folder (an export folder, or an unpacked backup set; extract a single-file backup first)`);
  try {
    await access(abs, constants.R_OK | constants.X_OK);
  } catch {
    throw new InputError(`${abs} is not readable by this account`, 'run as the account that made the export (or an administrator), or give it read access');
  }
  if (await holdsSet(abs)) return abs;
  for (const base of [abs, path.join(abs, 'certs')]) {
    for (const name of [node.name, node.hostname]) if (await holdsSet(path.join(base, name))) return path.join(base, name);
  }
  for (const base of [abs, path.join(abs, 'certs')]) {
    const subs = await setSubfolders(base);
    if (subs.length === 1) return subs[0];
    if (subs.length > 1) {
      throw new InputError(`${base} holds sets for several nodes (${subs.map((s) => path.basename(s)).join(', ')}) and none is named ${node.name}`, 'give the folder of the one to import');
    }
  }
  throw new InputError(`no certificate set found in ${abs} (looked for ${SET_INDEX_FILE} or root.pfx there, in ${node.name}/ and in certs/${node.name}/)`);
}
