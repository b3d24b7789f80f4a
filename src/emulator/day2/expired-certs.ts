// Expired certificates on demand (guide §6.1 "Renew self-signed certificates after they expire"): the site's Qlik set
// is replaced by one whose validity ended yesterday, as if the five years had passed. Call it with the Qlik services
// stopped: a running QRS keeps the TLS material it read at start; the next start applies the §6.1 rules to the expired set
// (an invalid root is fatal). Certificates that are not Qlik's (Windows' own roots, an IIS certificate) are left alone.
import { generateCA, generateQlikCertSet, type QlikCertSet } from '../../certs/generate.js';
import { installQlikCertSet, writeLocalCertificatePems } from '../../certs/install.js';
import { qlikContext, qlikRoleOf } from '../../certs/classify.js';
import { EmulatedCertStore } from '../../host/emulated/certstore.js';
import { centralNode, rimNodes, type SiteConfig } from '../../site/model.js';
import { installRimCertificates, localCertificatesDir, qrsStores } from '../qrs/certificates.js';

const DAY_MS = 86_400_000;

// Remove every Qlik certificate (by role) from the four stores QRS looks at on one node.
async function removeQlikCertificates(root: string, hostname: string, caSubject: string, account: string): Promise<void> {
  const store = new EmulatedCertStore(root, account);
  const ctx = qlikContext(hostname, caSubject);
  for (const s of qrsStores(account)) {
    for (const c of await store.list(s)) if (qlikRoleOf(c, s, ctx) !== null) await store.remove(s, c.thumbprint);
  }
}

/** Replace the site's Qlik certificates by an expired set (same subjects, issued five years ago, expired `daysAgo` days ago). */
export async function expireSiteCertificates(site: SiteConfig, opts: { daysAgo?: number; now?: Date } = {}): Promise<QlikCertSet> {
  const now = (opts.now ?? new Date()).getTime();
  const validity = { notBefore: new Date(now - 5 * 365 * DAY_MS), notAfter: new Date(now - (opts.daysAgo ?? 1) * DAY_MS) };
  const central = centralNode(site);
  const set = generateQlikCertSet(central.hostname, validity);
  const caSubject = `${central.hostname}-CA`;
  await removeQlikCertificates(central.root!, central.hostname, caSubject, site.serviceAccount);
  await installQlikCertSet(new EmulatedCertStore(central.root!, site.serviceAccount), set, site.serviceAccount);
  await writeLocalCertificatePems(localCertificatesDir(central.root!), set);
  for (const rim of rimNodes(site)) {
    await removeQlikCertificates(rim.root!, rim.hostname, caSubject, site.serviceAccount);
    await installRimCertificates(rim.root!, generateQlikCertSet(rim.hostname, { ...validity, ca: set.root }), site.serviceAccount);
  }
  return set;
}

/** Put a certificate that is not Qlik's into a node's LocalMachine stores (what renew must never touch). */
export async function addForeignCertificates(root: string, account: string): Promise<string[]> {
  const store = new EmulatedCertStore(root, account);
  const ca = generateCA('Contoso Issuing Root', null);
  const r = await store.put({ location: 'LocalMachine', name: 'Root' }, { certPem: ca.certPem, keyPem: null });
  const old = generateCA('Old Expired Vendor Root', null, { notBefore: new Date(Date.now() - 900 * DAY_MS), notAfter: new Date(Date.now() - 30 * DAY_MS) });
  const o = await store.put({ location: 'LocalMachine', name: 'Root' }, { certPem: old.certPem, keyPem: null });
  return [r.thumbprint, o.thumbprint];
}
