// Certificate distribution to a new node (guide §4.4 "Connecting and configuring the nodes"; digest §6.3): the central
// QRS issues the node's set from the site CA, sends it to the node's 4444 (plain HTTP) as a password-protected package,
// and hands the password to whoever registers the node; the node's QRS opens the package when the password reaches its
// localhost-only unlock port 4570. EMULATOR ASSUMPTIONS: the package format (AES-256-GCM under an scrypt key), the
// path it is posted to (POST /certificatedistribution/package) and the answers; Qlik documents none of them.
import crypto from 'node:crypto';
import http from 'node:http';
import type { QlikCertSet } from '../../certs/generate.js';
import { certPem } from '../../certs/inspect.js';
import { EmulatedCertStore } from '../../host/emulated/certstore.js';

const SCRYPT = { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
export const PACKAGE_PATH = '/certificatedistribution/package';

/** Seal a node's set under a password. */
export function sealPackage(set: QlikCertSet, password: string): Buffer {
  const salt = crypto.randomBytes(16);
  const iv = crypto.randomBytes(12);
  const key = crypto.scryptSync(password, salt, 32, SCRYPT);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(JSON.stringify(set), 'utf8'), c.final()]);
  return Buffer.concat([salt, iv, c.getAuthTag(), body]);
}

/** Open a package; null when the password is wrong (or the package was damaged). */
export function openPackage(pkg: Buffer, password: string): QlikCertSet | null {
  if (pkg.length < 44) return null;
  const key = crypto.scryptSync(password, pkg.subarray(0, 16), 32, SCRYPT);
  const d = crypto.createDecipheriv('aes-256-gcm', key, pkg.subarray(16, 28));
  d.setAuthTag(pkg.subarray(28, 44));
  try {
    return JSON.parse(Buffer.concat([d.update(pkg.subarray(44)), d.final()]).toString('utf8')) as QlikCertSet;
  } catch {
    return null;
  }
}

/** The site CA (certificate and key) from a central node's LocalMachine\Root. */
export async function centralCa(nodeRoot: string, serviceAccount: string): Promise<{ certPem: string; keyPem: string } | null> {
  const store = new EmulatedCertStore(nodeRoot, serviceAccount);
  const root = { location: 'LocalMachine' as const, name: 'Root' as const };
  for (const c of await store.list(root)) {
    const key = await store.privateKeyPem(root, c.thumbprint);
    if (key && /-CA$/i.test(c.subject)) return { certPem: certPem(c.der), keyPem: key };
  }
  return null;
}

/** POST the package to the node's 4444; resolves with the node's answer. */
export function pushPackage(address: string, port: number, pkg: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: address, port, path: PACKAGE_PATH, method: 'POST', timeout: 10_000, headers: { 'content-type': 'application/octet-stream', 'content-length': pkg.length } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(pkg);
  });
}
