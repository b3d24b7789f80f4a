// What QRS does with the certificate stores when it starts (guide §6.1 "Certificate handling"): generate, delete duplicates, stop fatally, or go on.
import { X509Certificate } from 'node:crypto';
import type { StoreRef, StoredCert } from '../host/types.js';
import { storeLabelWithUser } from './qlik.js';
import type { QlikCertRole } from './qlik.js';
import { judgeCert, qlikContext, qlikRoleOf } from './classify.js';
import type { QlikContext } from './classify.js';

export interface QrsStartupOptions {
  /** Only the central node's QRS makes certificates; a rim node waits for distribution (default true). */
  isCentral?: boolean;
  now?: Date;
}

/** A certificate QRS deletes, with the store it deletes it from. */
export interface QrsDeletion {
  store: StoreRef;
  thumbprint: string;
}

/** An invalid certificate QRS found and logged (it does not delete a single invalid certificate). */
export interface QrsInvalid {
  role: QlikCertRole;
  store: StoreRef;
  thumbprint: string;
  problems: string[];
}

export type QrsStartupVerdict =
  | {
      /** No Qlik certificate in LocalMachine\My, LocalMachine\Root or CurrentUser\My: first start (or after §6.1 renewal): make a new set. */
      action: 'generate';
      /** Qlik roots left in the service account's CurrentUser\Root that the new CA supersedes (§6.1 renewal leaves them; emulator assumption: replaced). */
      staleRoots: QrsDeletion[];
      log: string[];
    }
  | {
      /** More than one client or more than one server certificate: QRS deletes ALL of them. */
      action: 'delete-duplicates';
      thumbprints: string[];
      deletions: QrsDeletion[];
      missing: QlikCertRole[];
      invalid: QrsInvalid[];
      log: string[];
    }
  | {
      /** An invalid root or more than one root: fatal error, the service shuts down; QRS never removes roots. */
      action: 'fatal';
      reason: string;
      /** The root certificates concerned. */
      thumbprints: string[];
      /** Duplicates QRS deleted before it reached the roots (client and server are handled first). */
      deletions: QrsDeletion[];
      log: string[];
    }
  | {
      action: 'ok';
      /** Roles with no certificate (QRS only logs it; bootstrap mode re-creates them). */
      missing: QlikCertRole[];
      /** Single client/server certificates that are invalid (QRS only logs them). */
      invalid: QrsInvalid[];
      log: string[];
    };

type Located = { cert: StoredCert; store: StoreRef };

// The node's Qlik certificates of one role, with their stores.
function located(stores: Array<{ store: StoreRef; certs: StoredCert[] }>, ctx: QlikContext, role: QlikCertRole, where?: Pick<StoreRef, 'location' | 'name'>): Located[] {
  return stores
    .filter((s) => !where || (s.store.location === where.location && s.store.name === where.name))
    .flatMap((s) => s.certs.filter((c) => qlikRoleOf(c, s.store, ctx) === role).map((cert) => ({ cert, store: s.store })));
}

// The error messages of one certificate judged as QRS would (warnings do not count).
function errorsOf(l: Located, role: QlikCertRole, ca: X509Certificate | null, hostname: string, isCentral: boolean, now: Date): string[] {
  const cert = { ...l.cert, store: l.store };
  return judgeCert(cert, role, { now, warnDays: 0, ca, isCentral, hostname }).filter((p) => p.level === 'error').map((p) => p.message);
}

// Decide what QRS does at start with one node's stores (certificates.md "What QRS does at start").
export function qrsStartupVerdict(stores: Array<{ store: StoreRef; certs: StoredCert[] }>, hostname: string, opts: QrsStartupOptions = {}): QrsStartupVerdict {
  const isCentral = opts.isCentral ?? true;
  const now = opts.now ?? new Date();
  const ctx = qlikContext(hostname);
  const clients = located(stores, ctx, 'client', { location: 'CurrentUser', name: 'My' });
  const servers = located(stores, ctx, 'server', { location: 'LocalMachine', name: 'My' });
  const clusters = located(stores, ctx, 'serviceCluster', { location: 'LocalMachine', name: 'My' });
  const roots = located(stores, ctx, 'root');
  const machineRoots = roots.filter((r) => r.store.location === 'LocalMachine');
  const log: string[] = [];

  if (isCentral && clients.length + servers.length + clusters.length + machineRoots.length === 0) {
    log.push('no Qlik Sense certificates found: creating a new certificate set');
    return { action: 'generate', staleRoots: roots.map((r) => ({ store: r.store, thumbprint: r.cert.thumbprint })), log };
  }

  const distinctRoots = [...new Map(roots.map((r) => [r.cert.thumbprint, r])).values()];
  const ca = distinctRoots.length === 1 ? new X509Certificate(distinctRoots[0].cert.der) : null;
  const deletions: QrsDeletion[] = [];
  const invalid: QrsInvalid[] = [];
  const missing: QlikCertRole[] = [];

  for (const [role, found] of [['client', clients], ['server', servers]] as const) {
    if (found.length === 0) {
      missing.push(role);
      log.push(`no ${role} certificate found${isCentral ? '' : ': waiting for the central node to distribute certificates'}`);
    } else if (found.length === 1) {
      const problems = errorsOf(found[0], role, ca, hostname, isCentral, now);
      if (problems.length > 0) {
        invalid.push({ role, store: found[0].store, thumbprint: found[0].cert.thumbprint, problems });
        log.push(`invalid ${role} certificate found: ${found[0].cert.thumbprint} ${problems.join('; ')}`);
      }
    } else {
      const bad = found.filter((l) => errorsOf(l, role, ca, hostname, isCentral, now).length > 0).length;
      log.push(`${found.length} ${role} certificates found (${found.length - bad} valid, ${bad} invalid): duplicates are not allowed, deleting all of them`);
      deletions.push(...found.map((l) => ({ store: l.store, thumbprint: l.cert.thumbprint })));
      missing.push(role);
    }
  }
  if (clusters.length === 0) missing.push('serviceCluster');

  if (distinctRoots.length > 1) {
    const reason = `more than one root certificate found (${distinctRoots.map((r) => `${r.cert.subject} ${r.cert.thumbprint}`).join(', ')}): delete the unwanted root certificates by hand (QRS does not remove roots)`;
    log.push(`FATAL: ${reason}`);
    return { action: 'fatal', reason, thumbprints: distinctRoots.map((r) => r.cert.thumbprint), deletions, log };
  }
  if (distinctRoots.length === 1) {
    const problems = roots.flatMap((r) => errorsOf(r, 'root', ca, hostname, isCentral, now).map((p) => `${storeLabelWithUser(r.store)}: ${p}`));
    if (problems.length > 0) {
      const reason = `invalid root certificate ${distinctRoots[0].cert.subject} (${distinctRoots[0].cert.thumbprint}): ${problems.join('; ')}`;
      log.push(`FATAL: ${reason}`);
      return { action: 'fatal', reason, thumbprints: [distinctRoots[0].cert.thumbprint], deletions, log };
    }
  } else {
    missing.push('root');
    log.push('no root certificate found');
  }

  if (deletions.length > 0) {
    return { action: 'delete-duplicates', thumbprints: deletions.map((d) => d.thumbprint), deletions, missing, invalid, log };
  }
  return { action: 'ok', missing, invalid, log };
}
