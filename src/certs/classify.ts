// Recognise the Qlik certificates among a store's contents and judge one certificate by the guide's "Invalid certificate" rules (§6.1).
import { X509Certificate } from 'node:crypto';
import type { StoreRef, StoredCert } from '../host/types.js';
import { CLIENT_SUBJECT, SERVICE_CLUSTER_SUBJECT, caSubject, expectedExtension, storeLabelWithUser } from './qlik.js';
import type { QlikCertRole } from './qlik.js';

const DAY_MS = 86_400_000;

/** What identifies a node's Qlik certificates: its hostname and the CA names that issue them. */
export interface QlikContext {
  hostname: string;
  /** CNs of the Qlik CAs to recognise (the site CA, and `<hostname>-CA`). */
  caSubjects: string[];
}

export type ProblemLevel = 'error' | 'warning';
export type ProblemCode =
  | 'EXPIRED'
  | 'NOT_YET_VALID'
  | 'EXPIRES_SOON'
  | 'NO_EXTENSION'
  | 'WRONG_EXTENSION'
  | 'NO_KEY'
  | 'BAD_CHAIN'
  | 'HOSTNAME_MISMATCH';

export interface Problem {
  level: ProblemLevel;
  code: ProblemCode;
  message: string;
}

export interface JudgeOptions {
  now: Date;
  /** Days before expiry that raise a warning; 0 for none. */
  warnDays: number;
  /** The site CA to verify leaves against; null when unknown (chain checks are then skipped). */
  ca: X509Certificate | null;
  isCentral: boolean;
  hostname: string;
}

// Case-insensitive equality of names (Windows compares subjects and hostnames without case).
export function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

// The context for a node: its hostname, its own CA name, and the site CA's name when known.
export function qlikContext(hostname: string, siteCaSubject?: string | null): QlikContext {
  const subjects = [caSubject(hostname)];
  if (siteCaSubject && !subjects.some((s) => sameName(s, siteCaSubject))) subjects.push(siteCaSubject);
  return { hostname, caSubjects: subjects };
}

// The Qlik role of a certificate in a store, or null when it is not a Qlik certificate (Windows' own roots, IIS certificates...).
export function qlikRoleOf(cert: StoredCert, store: StoreRef, ctx: QlikContext): QlikCertRole | null {
  const byCa = (name: string) => ctx.caSubjects.some((s) => sameName(s, name));
  if (store.name === 'Root') return cert.qlikExtension !== null || byCa(cert.subject) ? 'root' : null;
  if (sameName(cert.subject, SERVICE_CLUSTER_SUBJECT)) return 'serviceCluster';
  const qlik = cert.qlikExtension !== null || byCa(cert.issuer);
  if (store.location === 'CurrentUser') return qlik || sameName(cert.subject, CLIENT_SUBJECT) ? 'client' : null;
  return qlik || sameName(cert.subject, ctx.hostname) ? 'server' : null;
}

// Whole days from `now` until `date` (negative when past).
export function daysUntil(date: Date, now: Date): number {
  return Math.floor((date.getTime() - now.getTime()) / DAY_MS);
}

// The validity-window problems of a certificate: not yet valid, expired, or expiring within warnDays.
function validityProblems(cert: StoredCert, o: JudgeOptions): Problem[] {
  if (o.now < cert.notBefore) {
    return [{ level: 'error', code: 'NOT_YET_VALID', message: `not valid before ${cert.notBefore.toISOString()} (check the clock of this machine)` }];
  }
  if (o.now > cert.notAfter) return [{ level: 'error', code: 'EXPIRED', message: `expired on ${cert.notAfter.toISOString()}` }];
  const left = daysUntil(cert.notAfter, o.now);
  if (left < o.warnDays) return [{ level: 'warning', code: 'EXPIRES_SOON', message: `expires in ${left} day(s), on ${cert.notAfter.toISOString()}` }];
  return [];
}

// The extension problem of a certificate: missing, or not the value its store requires (QlikServiceCluster: only a wrong value, as a warning).
function extensionProblems(cert: StoredCert, role: QlikCertRole): Problem[] {
  const want = expectedExtension(cert.store);
  const where = storeLabelWithUser(cert.store);
  if (cert.qlikExtension === null) {
    if (role === 'serviceCluster') return [];
    return [{ level: 'error', code: 'NO_EXTENSION', message: `has no Qlik extension (OID 1.3.6.1.5.5.7.13.3); in ${where} it must say "${want}"` }];
  }
  if (cert.qlikExtension === want) return [];
  return [{
    level: role === 'serviceCluster' ? 'warning' : 'error',
    code: 'WRONG_EXTENSION',
    message: `its Qlik extension says "${cert.qlikExtension}" but ${where} requires "${want}": it was put in the wrong store`,
  }];
}

// The private-key problem: server and client certificates need their key everywhere, the root its key in LocalMachine\Root on the central node.
function keyProblems(cert: StoredCert, role: QlikCertRole, o: JudgeOptions): Problem[] {
  if (cert.hasPrivateKey) return [];
  const msg = `has no private key the service account can use in ${storeLabelWithUser(cert.store)}`;
  if (role === 'server' || role === 'client') return [{ level: 'error', code: 'NO_KEY', message: msg }];
  if (role === 'root' && o.isCentral && cert.store.location === 'LocalMachine') return [{ level: 'error', code: 'NO_KEY', message: `${msg} (the central node signs certificates with it)` }];
  if (role === 'serviceCluster') return [{ level: 'warning', code: 'NO_KEY', message: msg }];
  return [];
}

// True when `child` names `issuer` as its issuer and its signature verifies with the issuer's public key.
export function issuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

// The chain problem: a root that is not the site CA (or not self-signed), a leaf not signed by the site CA.
function chainProblems(cert: StoredCert, role: QlikCertRole, o: JudgeOptions): Problem[] {
  const x = new X509Certificate(cert.der);
  if (role === 'root') {
    if (!issuedBy(x, x)) return [{ level: 'error', code: 'BAD_CHAIN', message: `is in a Root store but is not a self-signed CA certificate (issuer ${cert.issuer})` }];
    if (o.ca && !x.raw.equals(o.ca.raw)) {
      return [{ level: 'error', code: 'BAD_CHAIN', message: `is not the site CA (${commonNameOf(o.ca)}, thumbprint ${o.ca.fingerprint.replace(/:/g, '')})` }];
    }
    return [];
  }
  if (!o.ca || issuedBy(x, o.ca)) return [];
  return [{ level: 'error', code: 'BAD_CHAIN', message: `is not signed by the site CA ${commonNameOf(o.ca)} (it names ${cert.issuer} as issuer): it comes from another site or an old CA` }];
}

// The CN of a certificate's subject.
function commonNameOf(x: X509Certificate): string {
  const cn = x.subject.split('\n').find((l) => l.startsWith('CN='));
  return cn ? cn.slice(3) : x.subject;
}

// Hostname problem of a server certificate: its CN is not the node's Qlik hostname.
function hostnameProblems(cert: StoredCert, role: QlikCertRole, o: JudgeOptions): Problem[] {
  if (role !== 'server' || sameName(cert.subject, o.hostname)) return [];
  return [{ level: 'warning', code: 'HOSTNAME_MISMATCH', message: `is issued to ${cert.subject} but the node's Qlik hostname is ${o.hostname}` }];
}

// Everything wrong with one Qlik certificate in its store, errors first.
export function judgeCert(cert: StoredCert, role: QlikCertRole, o: JudgeOptions): Problem[] {
  const all = [
    ...validityProblems(cert, o),
    ...extensionProblems(cert, role),
    ...keyProblems(cert, role, o),
    ...chainProblems(cert, role, o),
    ...hostnameProblems(cert, role, o),
  ];
  return [...all.filter((p) => p.level === 'error'), ...all.filter((p) => p.level === 'warning')];
}
