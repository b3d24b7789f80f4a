// Put a Qlik certificate set where Qlik keeps it: the certificate stores (as QRS does on first start) and the PEM copies in ".Local Certificates".
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CertStore, StoredCert } from '../host/types.js';
import type { QlikCertSet } from './generate.js';
import { writePfx } from './pfx.js';
import { qlikCertLocations } from './qlik.js';

// Import every certificate of the set into its canonical store (CA in both Root stores, its key only in LocalMachine\Root).
export async function installQlikCertSet(store: CertStore, set: QlikCertSet, serviceAccount: string): Promise<StoredCert[]> {
  const password = randomBytes(18).toString('base64');
  const installed: StoredCert[] = [];
  for (const loc of qlikCertLocations(serviceAccount)) {
    const pair = set[loc.role];
    const pfx = writePfx({ certPem: pair.certPem, keyPem: loc.withKey ? pair.keyPem : null }, password);
    installed.push(await store.importPfx(loc.store, pfx, password));
  }
  return installed;
}

/** The PEM files Qlik writes to ...\Repository\Exported Certificates\.Local Certificates (guide §6.1). */
export const LOCAL_CERTIFICATE_FILES = ['client.pem', 'client_key.pem', 'root.pem', 'server.pem', 'server_key.pem'] as const;

// Write one file with a mode, fixing the mode of a file that already existed.
async function writeWithMode(file: string, data: string, mode: number): Promise<void> {
  await writeFile(file, data, { mode });
  await chmod(file, mode);
}

// Write the set's PEM copies (client, client key, root, server, server key) into a ".Local Certificates" folder; keys get mode 0600.
export async function writeLocalCertificatePems(dir: string, set: QlikCertSet): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: Array<[string, string, number]> = [
    ['client.pem', set.client.certPem, 0o644],
    ['client_key.pem', set.client.keyPem, 0o600],
    ['root.pem', set.root.certPem, 0o644],
    ['server.pem', set.server.certPem, 0o644],
    ['server_key.pem', set.server.keyPem, 0o600],
  ];
  const written: string[] = [];
  for (const [name, data, mode] of files) {
    const file = path.join(dir, name);
    await writeWithMode(file, data, mode);
    written.push(file);
  }
  return written;
}
