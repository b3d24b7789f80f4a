// Pure checks of a site's certificate stores (no I/O): what `qsadmin certs check` reports and what the emulated QRS decides at start.
import { X509Certificate } from 'node:crypto';
import type { StoreRef, StoredCert } from '../host/types.js';
import { caSubject, qlikCertLocations, storeLabel, storeLabelWithUser } from './qlik.js';
import type { QlikCertRole } from './qlik.js';
import { judgeCert, qlikContext, qlikRoleOf, sameName, daysUntil } from './classify.js';
import type { Problem, QlikContext } from './classify.js';
import { commonName, toX509 } from './inspect.js';

export { qrsStartupVerdict } from './qrs-startup.js';
export type { QrsStartupVerdict, QrsStartupOptions } from './qrs-startup.js';

/** The certificates of one store as the host driver listed them. */
export interface StoreCerts {
  store: StoreRef;
  certs: StoredCert[];
}

/** One node's stores. Stores not listed were not inspected: nothing is reported missing from them. */
export interface NodeCertStores {
  node: string;
  hostname: string;
  isCentral: boolean;
  stores: StoreCerts[];
}

export interface CheckOptions {
  /** Warn when a certificate expires within this many days (default 30). */
  warnDays?: number;
  now?: Date;
  /** The site CA (PEM or DER); default: the `<central hostname>-CA` found in the central node's Root stores. */
  siteCa?: string | Buffer;
}

export type FindingLevel = 'error' | 'warning' | 'ok';
export type FindingCode =
  | Problem['code']
  | 'OK'
  | 'MISSING'
  | 'DUPLICATE'
  | 'MULTIPLE_ROOTS'
  | 'TOO_MANY_ROOTS'
  | 'NO_SITE_CA';

export interface Finding {
  level: FindingLevel;
  code: FindingCode;
  node: string;
  /** "LocalMachine\My", "CurrentUser\Root", ...; null for node-wide findings. */
  store: string | null;
  subject: string | null;
  thumbprint: string | null;
  message: string;
  fix?: string;
}

/** More trusted roots than this make Windows truncate the list in the TLS handshake (guide §6.1). */
export const MAX_TRUSTED_ROOTS = 300;

// The guide's renewal (§6.1) on the central node; `which` names the certificates to delete: the expired ones, or
// (for a certificate that only expires soon, still valid) the current ones, which QRS then makes again.
function renewCentral(which: 'expired' | 'expiring'): string {
  const what = which === 'expired' ? 'the expired Qlik certificates' : 'the Qlik certificates (still valid, about to expire)';
  return `renew the certificates${which === 'expiring' ? ' before they expire' : ''} (guide §6.1): on the central node stop all Qlik Sense services except the repository database, ` +
    `delete ${what} from LocalMachine\\My and LocalMachine\\Root and QlikClient from the service account's CurrentUser\\My, ` +
    'empty C:\\ProgramData\\Qlik\\Sense\\Repository\\Exported Certificates, start the services (QRS makes new certificates), ' +
    'then re-enter data-connection passwords in the QMC';
}
const RENEW_RIM = 'renew the site\'s certificates on the central node (guide §6.1); the central node then distributes new ones to this rim node';
const BOOTSTRAP = 'run QRS in bootstrap mode on the central node to re-create the certificates: stop the Qlik services, start the Service Dispatcher, then run `Repository.exe -bootstrap` from an elevated prompt (guide §1.3)';
const BOOTSTRAP_RIM = 'the rim node gets its certificates from the central node: check that the central node is running and that this node is registered and unlocked (or run its bootstrap registration again)';

// The site CA: the caller's, else the central node's `<host>-CA` from its Root stores, else the only Qlik root any node has.
export function findSiteCa(nodes: NodeCertStores[], given?: string | Buffer): X509Certificate | null {
  if (given !== undefined) return toX509(given);
  const central = nodes.find((n) => n.isCentral);
  const roots = (n: NodeCertStores) => n.stores.filter((s) => s.store.name === 'Root').flatMap((s) => s.certs);
  if (central) {
    const own = roots(central).filter((c) => sameName(c.subject, caSubject(central.hostname)));
    const withKey = own.find((c) => c.hasPrivateKey) ?? own[0];
    if (withKey) return new X509Certificate(withKey.der);
  }
  const qlikRoots = new Map<string, StoredCert>();
  for (const n of nodes) for (const c of roots(n)) if (c.qlikExtension !== null) qlikRoots.set(c.thumbprint, c);
  return qlikRoots.size === 1 ? new X509Certificate([...qlikRoots.values()][0].der) : null;
}

// A finding about one certificate.
function certFinding(node: string, cert: StoredCert, level: FindingLevel, code: FindingCode, message: string, fix?: string): Finding {
  const f: Finding = { level, code, node, store: storeLabel(cert.store), subject: cert.subject, thumbprint: cert.thumbprint, message: `${cert.subject} in ${storeLabelWithUser(cert.store)}: ${message}` };
  if (fix !== undefined) f.fix = fix;
  return f;
}

// The fix for a problem code on a central or rim node.
function fixFor(code: FindingCode, isCentral: boolean, cert?: StoredCert): string | undefined {
  const renew = isCentral ? renewCentral('expired') : RENEW_RIM;
  switch (code) {
    case 'EXPIRED':
      return renew;
    case 'EXPIRES_SOON':
      return isCentral ? renewCentral('expiring') : RENEW_RIM;
    case 'NOT_YET_VALID':
      return 'set this machine\'s clock right; if the clock is right, the certificate was made on a machine with a wrong clock: ' + renew;
    case 'NO_EXTENSION':
    case 'WRONG_EXTENSION':
    case 'NO_KEY':
    case 'BAD_CHAIN':
      return (cert ? `delete it (Remove-Item Cert:\\${cert.store.location}\\${cert.store.name}\\${cert.thumbprint}, as ${cert.store.location === 'CurrentUser' ? 'the service account' : 'an administrator'}) or import the right one from a backup; otherwise ` : '') + (isCentral ? BOOTSTRAP : BOOTSTRAP_RIM);
    case 'HOSTNAME_MISMATCH':
      return 'if the node was renamed, restore to the new hostname the documented way (Repository.exe -restorehostname) or re-create the certificates; otherwise correct the hostname in the site config';
    default:
      return undefined;
  }
}

// Findings for each Qlik certificate of one node: its own problems, or one "ok" line.
function perCertFindings(n: NodeCertStores, ctx: QlikContext, ca: X509Certificate | null, now: Date, warnDays: number): Finding[] {
  const out: Finding[] = [];
  for (const s of n.stores) {
    for (const cert of s.certs) {
      const role = qlikRoleOf(cert, s.store, ctx);
      if (role === null) continue;
      const problems = judgeCert(cert, role, { now, warnDays, ca, isCentral: n.isCentral, hostname: n.hostname });
      for (const p of problems) out.push(certFinding(n.node, cert, p.level, p.code, p.message, fixFor(p.code, n.isCentral, cert)));
      if (problems.length === 0) out.push(certFinding(n.node, cert, 'ok', 'OK', `${role} certificate, valid until ${cert.notAfter.toISOString().slice(0, 10)} (${daysUntil(cert.notAfter, now)} days)`));
    }
  }
  return out;
}

// The node's Qlik certificates of one role in stores of one location and name.
function certsOfRole(n: NodeCertStores, ctx: QlikContext, role: QlikCertRole, where?: Pick<StoreRef, 'location' | 'name'>): StoredCert[] {
  return n.stores
    .filter((s) => !where || (s.store.location === where.location && s.store.name === where.name))
    .flatMap((s) => s.certs.filter((c) => qlikRoleOf(c, s.store, ctx) === role));
}

// Duplicate client or server certificates (QRS deletes them all) and more than one Qlik root (fatal for QRS).
function duplicateFindings(n: NodeCertStores, ctx: QlikContext, ca: X509Certificate | null): Finding[] {
  const out: Finding[] = [];
  for (const role of ['client', 'server'] as const) {
    const where = role === 'client' ? ({ location: 'CurrentUser', name: 'My' } as const) : ({ location: 'LocalMachine', name: 'My' } as const);
    const certs = certsOfRole(n, ctx, role, where);
    if (certs.length < 2) continue;
    const list = certs.map((c) => c.thumbprint).join(', ');
    for (const c of certs) {
      out.push(certFinding(n.node, c, 'error', 'DUPLICATE', `one of ${certs.length} ${role} certificates (${list}): QRS deletes all of them at its next start because duplicates are not allowed`,
        `keep the one issued by the site CA${ca ? ` ${commonName(ca.subject)}` : ''} and delete the others before the services start (Remove-Item Cert:\\${c.store.location}\\My\\<thumbprint>${role === 'client' ? ', as the service account' : ''})`));
    }
  }
  const roots = new Map<string, StoredCert>();
  for (const c of certsOfRole(n, ctx, 'root')) if (!roots.has(c.thumbprint)) roots.set(c.thumbprint, c);
  if (roots.size > 1) {
    const list = [...roots.values()].map((c) => `${c.subject} (${c.thumbprint})`).join(', ');
    for (const c of roots.values()) {
      if (ca && c.der.equals(ca.raw)) continue;
      out.push(certFinding(n.node, c, 'error', 'MULTIPLE_ROOTS', `${roots.size} Qlik root certificates on this node (${list}): QRS stops with a fatal error at start`,
        'delete the unwanted root certificates from LocalMachine\\Root and the service account\'s CurrentUser\\Root by hand (QRS never removes roots), keeping the site CA'));
    }
  }
  return out;
}

// Root stores holding more than 300 certificates (Windows truncates the list in the TLS handshake).
function rootCountFindings(n: NodeCertStores): Finding[] {
  return n.stores
    .filter((s) => s.store.name === 'Root' && s.certs.length > MAX_TRUSTED_ROOTS)
    .map((s) => ({
      level: 'warning' as const, code: 'TOO_MANY_ROOTS' as const, node: n.node, store: storeLabel(s.store), subject: null, thumbprint: null,
      message: `${storeLabelWithUser(s.store)} holds ${s.certs.length} certificates (more than ${MAX_TRUSTED_ROOTS}): Windows truncates the list of trusted roots in the TLS handshake and Qlik services log warnings`,
      fix: 'remove trusted root certificates this machine does not need',
    }));
}

// Certificates of the set missing from the stores that were inspected (QlikServiceCluster: a warning, the guide is silent on it).
function missingFindings(n: NodeCertStores, ctx: QlikContext): Finding[] {
  const out: Finding[] = [];
  for (const loc of qlikCertLocations('')) {
    const inspected = n.stores.find((s) => s.store.location === loc.store.location && s.store.name === loc.store.name);
    if (!inspected || certsOfRole(n, ctx, loc.role, loc.store).length > 0) continue;
    const label = storeLabelWithUser({ ...loc.store, user: inspected.store.user });
    const subject = loc.role === 'root' ? ctx.caSubjects.join(' or ') : loc.subject(n.hostname);
    out.push({
      level: loc.role === 'serviceCluster' ? 'warning' : 'error', code: 'MISSING', node: n.node, store: storeLabel(loc.store), subject, thumbprint: null,
      message: `no ${loc.role === 'serviceCluster' ? 'QlikServiceCluster' : loc.role} certificate (${subject}) in ${label}`,
      fix: n.isCentral ? `import it from the certificate backup, or ${BOOTSTRAP}` : BOOTSTRAP_RIM,
    });
  }
  return out;
}

// Check every node's stores: validity, expiry warnings, extensions, keys, chain to the site CA, duplicates, roots, hostnames, missing certificates.
export function checkCertificates(nodes: NodeCertStores[], opts: CheckOptions = {}): Finding[] {
  const now = opts.now ?? new Date();
  const warnDays = opts.warnDays ?? 30;
  const ca = findSiteCa(nodes, opts.siteCa);
  const caName = ca ? commonName(ca.subject) : null;
  const out: Finding[] = [];
  if (!ca && nodes.length > 0) {
    out.push({ level: 'warning', code: 'NO_SITE_CA', node: (nodes.find((n) => n.isCentral) ?? nodes[0]).node, store: null, subject: null, thumbprint: null,
      message: 'the site CA was not found, so no certificate could be checked against it', fix: 'inspect the central node\'s LocalMachine\\Root store too, or pass the site CA' });
  }
  for (const n of nodes) {
    const ctx = qlikContext(n.hostname, caName);
    out.push(...perCertFindings(n, ctx, ca, now, warnDays), ...duplicateFindings(n, ctx, ca), ...rootCountFindings(n), ...missingFindings(n, ctx));
  }
  return out;
}

/** Same as checkCertificates. */
export const check = checkCertificates;

// True when any finding is an error (the command exits 4).
export function hasErrors(findings: Finding[]): boolean {
  return findings.some((f) => f.level === 'error');
}
