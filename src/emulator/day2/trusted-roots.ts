// A machine with many trusted roots (guide §6.1 "Maximum number of trusted root certificates": more than 300 and
// Windows truncates the list in the TLS handshake). Third-party roots share one key here: only their number matters,
// and signing with one 1024-bit key keeps 300 of them to about a second.
import forge from 'node-forge';
import { randomBytes } from 'node:crypto';
import { generateRsaKeyPem } from '../../certs/generate.js';
import { EmulatedCertStore } from '../../host/emulated/certstore.js';

/** Add `count` self-signed third-party roots to the node's LocalMachine\Root; returns how many it holds now. */
export async function addTrustedRoots(nodeRoot: string, account: string, count: number): Promise<number> {
  const privateKey = forge.pki.privateKeyFromPem(generateRsaKeyPem(1024)) as forge.pki.rsa.PrivateKey;
  const keys = { privateKey, publicKey: forge.pki.setRsaPublicKey(privateKey.n, privateKey.e) };
  const store = new EmulatedCertStore(nodeRoot, account);
  const where = { location: 'LocalMachine', name: 'Root' } as const;
  for (let i = 0; i < count; i++) {
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = '01' + randomBytes(8).toString('hex');
    cert.validity.notBefore = new Date(Date.now() - 86_400_000);
    cert.validity.notAfter = new Date(Date.now() + 3650 * 86_400_000);
    const name = [{ shortName: 'CN', value: `Third Party Root ${i + 1}` }];
    cert.setSubject(name);
    cert.setIssuer(name);
    cert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    await store.put(where, { certPem: forge.pki.certificateToPem(cert), keyPem: null });
  }
  return (await store.list(where)).length;
}
