// The certificate rules QRS applies at start (guide §6.1 "Certificate handling", reference/certificates.md), on an
// emulated node's stores: first start makes the set (central only), duplicates are deleted, a bad or second root is fatal.
// Making and installing a set needs node-forge, which is slow to load: those modules are imported only when a set is made.
import { qrsStartupVerdict, type QrsStartupVerdict } from '../../certs/check.js';
import type { QlikCertSet } from '../../certs/generate.js';
import { certPem } from '../../certs/inspect.js';
import { qlikCertLocations } from '../../certs/qlik.js';
import { defaultSitePaths, windowsToEmulated } from '../../host/paths.js';
import type { StoreRef, StoredCert } from '../../host/types.js';
import { EmulatedCertStore } from '../../host/emulated/certstore.js';
import { sameName } from '../../certs/classify.js';
import type { ServiceLog } from '../services/log.js';

/** What the HTTPS listeners of QRS need: the node's server certificate and key and the site CA to check clients against. */
export interface QrsTlsMaterial {
  certPem: string;
  keyPem: string;
  caPem: string;
  serverThumbprint: string;
}

export class FatalCertificateError extends Error {}

// The four stores QRS looks at: LocalMachine\My and \Root, the service account's CurrentUser\My and \Root.
export function qrsStores(serviceAccount: string): StoreRef[] {
  return [
    { location: 'LocalMachine', name: 'My' },
    { location: 'LocalMachine', name: 'Root' },
    { location: 'CurrentUser', name: 'My', user: serviceAccount },
    { location: 'CurrentUser', name: 'Root', user: serviceAccount },
  ];
}

// Local path of the ".Local Certificates" folder of an emulated node.
export function localCertificatesDir(nodeRoot: string): string {
  return windowsToEmulated(nodeRoot, defaultSitePaths().localCertificates);
}

// List the stores QRS looks at.
async function listStores(store: EmulatedCertStore, serviceAccount: string): Promise<Array<{ store: StoreRef; certs: StoredCert[] }>> {
  return Promise.all(qrsStores(serviceAccount).map(async (s) => ({ store: s, certs: await store.list(s) })));
}

// Make a new set on the central node (first start, or after the §6.1 renewal): stores and the PEM copies.
export async function createCentralCertificates(nodeRoot: string, hostname: string, serviceAccount: string): Promise<QlikCertSet> {
  const { generateQlikCertSet } = await import('../../certs/generate.js');
  const { installQlikCertSet, writeLocalCertificatePems } = await import('../../certs/install.js');
  const store = new EmulatedCertStore(nodeRoot, serviceAccount);
  const set = generateQlikCertSet(hostname);
  await installQlikCertSet(store, set, serviceAccount);
  await writeLocalCertificatePems(localCertificatesDir(nodeRoot), set);
  return set;
}

// Put a rim node's set (issued by the central CA) into its stores as the central node's distribution does: the CA without its key.
export async function installRimCertificates(nodeRoot: string, set: QlikCertSet, serviceAccount: string): Promise<void> {
  const { writeLocalCertificatePems } = await import('../../certs/install.js');
  const store = new EmulatedCertStore(nodeRoot, serviceAccount);
  for (const loc of qlikCertLocations(serviceAccount)) {
    const pair = set[loc.role];
    await store.put(loc.store, { certPem: pair.certPem, keyPem: loc.role === 'root' ? null : pair.keyPem });
  }
  await writeLocalCertificatePems(localCertificatesDir(nodeRoot), { ...set, root: { certPem: set.root.certPem, keyPem: '' } });
}

// Apply the start-up rules; returns the TLS material, or null when the node has no usable certificates (servicestate 1).
export async function applyStartupCertificateRules(
  nodeRoot: string,
  hostname: string,
  serviceAccount: string,
  isCentral: boolean,
  log: ServiceLog,
): Promise<QrsTlsMaterial | null> {
  const store = new EmulatedCertStore(nodeRoot, serviceAccount);
  // guide §6.1 "Maximum number of trusted root certificates": over 300, two warnings at every start
  if ((await store.list({ location: 'LocalMachine', name: 'Root' })).length > 300) {
    log.warn('There are too many root certificates for the service to trust.');
    log.warn('The Microsoft Windows operating system will truncate the list of certificates during the Transport Layer Security (TLS) handshake.');
  }
  for (let round = 0; round < 2; round++) {
    const verdict: QrsStartupVerdict = qrsStartupVerdict(await listStores(store, serviceAccount), hostname, { isCentral });
    for (const line of verdict.log) log.info(`Certificates: ${line}`);
    if (verdict.action === 'fatal') {
      await deleteAll(store, verdict.deletions, log);
      throw new FatalCertificateError(`Certificates: ${verdict.reason}. The service shuts down.`);
    }
    if (verdict.action === 'generate') {
      for (const d of verdict.staleRoots) await store.remove(d.store, d.thumbprint);
      const set = await createCentralCertificates(nodeRoot, hostname, serviceAccount);
      log.info(`Certificates: created ${hostname}-CA, ${hostname}, QlikClient and QlikServiceCluster (set for ${set.hostname}); PEM copies written to ${localCertificatesDir(nodeRoot)}`);
      continue;
    }
    if (verdict.action === 'delete-duplicates') {
      await deleteAll(store, verdict.deletions, log);
      continue;
    }
    return tlsMaterial(store, hostname, log);
  }
  return tlsMaterial(store, hostname, log);
}

// Delete the certificates a verdict names and log each one.
async function deleteAll(store: EmulatedCertStore, deletions: Array<{ store: StoreRef; thumbprint: string }>, log: ServiceLog): Promise<void> {
  for (const d of deletions) {
    await store.remove(d.store, d.thumbprint);
    const where = d.store.location === 'CurrentUser' ? `CurrentUser(${d.store.user})\\${d.store.name}` : `LocalMachine\\${d.store.name}`;
    log.warn(`Certificates: deleted duplicate certificate ${d.thumbprint} from ${where}`);
  }
  if (deletions.length > 0) log.warn(`Certificates: ${deletions.length} duplicate certificate(s) deleted; duplicates are not allowed`);
}

// The server certificate for this hostname with its key, and the root it chains to; null when either is missing.
async function tlsMaterial(store: EmulatedCertStore, hostname: string, log: ServiceLog): Promise<QrsTlsMaterial | null> {
  const servers = (await store.list({ location: 'LocalMachine', name: 'My' })).filter((c) => sameName(c.subject, hostname) && c.hasPrivateKey);
  const roots = (await store.list({ location: 'LocalMachine', name: 'Root' })).filter((c) => c.qlikExtension !== null || /-CA$/i.test(c.subject));
  const server = servers[0];
  const root = roots.find((r) => server && sameName(r.subject, server.issuer));
  if (!server || !root) {
    log.warn(`Certificates: not installed (${!server ? `no server certificate for ${hostname} with a private key in LocalMachine\\My` : 'no root certificate in LocalMachine\\Root that issued it'}); waiting for the central node to distribute certificates`);
    return null;
  }
  const keyPem = await store.privateKeyPem({ location: 'LocalMachine', name: 'My' }, server.thumbprint);
  return { certPem: certPem(server.der), keyPem: keyPem!, caPem: certPem(root.der), serverThumbprint: server.thumbprint };
}
