// A QRS client for the central node, as qsadmin running on it authenticates: the client certificate from
// Exported Certificates\.Local Certificates (client.pem, client_key.pem, root.pem), user INTERNAL\sa_api.
import path from 'node:path';
import type { Host } from '../host/types.js';
import { centralNode, type SiteConfig } from '../site/model.js';
import { QRS_API_PORT } from '../site/services.js';
import { qlikHostnameOf } from '../runbooks/certs.js';
import { QrsClient, QrsError } from './client.js';

export async function centralQrs(site: SiteConfig, host: Host): Promise<QrsClient> {
  const central = centralNode(site);
  const pem = async (f: string) => (await host.files.read(path.win32.join(host.paths.localCertificates, f))).toString('utf8');
  const { hostname } = await qlikHostnameOf(host, central);
  return new QrsClient({
    host: central.address,
    port: QRS_API_PORT + (central.portOffset ?? 0),
    servername: hostname,
    auth: { certPem: await pem('client.pem'), keyPem: await pem('client_key.pem'), caPem: await pem('root.pem') },
    user: { directory: 'INTERNAL', id: 'sa_api' },
  });
}

/** GET an entity, or null when QRS answers 404. */
export async function getOrNull<T>(qrs: QrsClient, p: string): Promise<T | null> {
  try {
    return await qrs.get<T>(p);
  } catch (e) {
    if (e instanceof QrsError && e.status === 404) return null;
    throw e;
  }
}
