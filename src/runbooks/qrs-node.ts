// A QRS client on one node, authenticated with that node's own PEM files in Exported Certificates\.Local Certificates
// (client.pem, client_key.pem, root.pem: what the guide's §6.7 uses to call https://localhost:4242/qrs).
import path from 'node:path';
import type { Host } from '../host/types.js';
import { QrsClient } from '../qrs/client.js';
import type { NodeConfig } from '../site/model.js';
import { QRS_API_PORT } from '../site/services.js';
import { qlikHostnameOf } from './certs.js';

export async function qrsOnNode(host: Host, node: NodeConfig): Promise<QrsClient> {
  const pem = async (f: string) => (await host.files.read(path.win32.join(host.paths.localCertificates, f))).toString('utf8');
  const { hostname } = await qlikHostnameOf(host, node);
  return new QrsClient({
    host: node.address,
    port: QRS_API_PORT + (node.portOffset ?? 0),
    servername: hostname,
    auth: { certPem: await pem('client.pem'), keyPem: await pem('client_key.pem'), caPem: await pem('root.pem') },
    user: { directory: 'INTERNAL', id: 'sa_api' },
  });
}
