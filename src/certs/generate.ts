// Make Qlik certificate sets: a self-signed CA <host>-CA and the server, QlikClient and QlikServiceCluster certificates it signs.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { QLIK_EXTENSION_OID, CLIENT_SUBJECT, SERVICE_CLUSTER_SUBJECT, caSubject } from './qlik.js';
import type { QlikCertRole, QlikExtensionValue } from './qlik.js';
import { describeCert, keyMatchesCert } from './inspect.js';
import { CertError } from './errors.js';

const pki = forge.pki;
const asn1 = forge.asn1;
const DAY_MS = 86_400_000;

export interface CertKeyPair {
  certPem: string;
  keyPem: string;
}

export interface QlikCertSet {
  hostname: string;
  root: CertKeyPair;
  server: CertKeyPair;
  client: CertKeyPair;
  serviceCluster: CertKeyPair;
}

export interface CertOptions {
  notBefore?: Date;
  notAfter?: Date;
  keyBits?: number;
}

export interface QlikCertSetOptions extends CertOptions {
  /** Sign the leaves with this CA (a rim node's set, or another site's) instead of making a new one. */
  ca?: CertKeyPair;
  /** Override the Qlik extension per role: a string writes that value, null leaves the extension out. */
  extensionValues?: Partial<Record<QlikCertRole, string | null>>;
}

/** What each role is for: the extended key usages it carries. */
export type LeafKind = 'server' | 'client' | 'serviceCluster';

/** The extension value each role carries by default (QlikServiceCluster lives in LocalMachine\My, hence Server). */
export const DEFAULT_EXTENSION: Record<QlikCertRole, QlikExtensionValue> = {
  root: 'Root',
  server: 'Server',
  client: 'Client',
  serviceCluster: 'Server',
};

// A new RSA key pair as PKCS#1 PEM (what Qlik's exported *_key.pem files hold), made by Node's crypto.
export function generateRsaKeyPem(bits = 2048): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
}

// DER of the Qlik extension value: a UTF8String (inspect.qlikExtensionValue also reads PrintableString and bare text).
export function qlikExtensionDer(value: string): string {
  return asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTF8, false, forge.util.encodeUtf8(value))).getBytes();
}

// A positive random serial number as hex (forge writes it as a DER INTEGER).
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;
  return bytes.toString('hex');
}

// The validity window: the caller's, or from a day ago to five years ahead.
function validity(opts: CertOptions): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return {
    notBefore: opts.notBefore ?? new Date(now - DAY_MS),
    notAfter: opts.notAfter ?? new Date(now + 5 * 365 * DAY_MS),
  };
}

// The subject key identifier of a public key, as forge computes it (SHA-1 of the RSAPublicKey).
function keyId(publicKey: forge.pki.rsa.PublicKey): string {
  return pki.getPublicKeyFingerprint(publicKey, { type: 'RSAPublicKey', md: forge.md.sha1.create() }).getBytes();
}

// The forge public key that belongs to a forge private key.
function publicOf(key: forge.pki.rsa.PrivateKey): forge.pki.rsa.PublicKey {
  return pki.setRsaPublicKey(key.n, key.e);
}

// The Qlik extension entry for forge, or nothing when the value is null.
function qlikExtension(value: string | null): object[] {
  return value === null ? [] : [{ id: QLIK_EXTENSION_OID, critical: false, value: qlikExtensionDer(value) }];
}

// Sign a forge certificate with SHA-256 and return its PEM.
function signToPem(cert: forge.pki.Certificate, signer: forge.pki.rsa.PrivateKey): string {
  cert.sign(signer, forge.md.sha256.create());
  return pki.certificateToPem(cert);
}

// A self-signed CA certificate with the given CN and Qlik extension value ("Root" by default).
export function generateCA(subjectCN: string, ext: string | null = 'Root', opts: CertOptions = {}): CertKeyPair {
  const keyPem = generateRsaKeyPem(opts.keyBits);
  const key = pki.privateKeyFromPem(keyPem);
  const pub = publicOf(key);
  const cert = pki.createCertificate();
  cert.publicKey = pub;
  cert.serialNumber = randomSerial();
  Object.assign(cert.validity, validity(opts));
  const name = [{ shortName: 'CN', value: subjectCN }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    ...qlikExtension(ext),
  ]);
  return { certPem: signToPem(cert, key), keyPem };
}

// The subjectAltName entries for a server certificate: DNS always, IP too when the hostname is an address.
function altNames(hostname: string): object[] {
  const names: object[] = [{ type: 2, value: hostname }];
  if (isIP(hostname)) names.push({ type: 7, ip: hostname });
  return names;
}

// A leaf certificate signed by the CA: server (serverAuth+clientAuth, SAN), client (clientAuth) or service cluster.
export function generateLeaf(
  ca: CertKeyPair,
  subjectCN: string,
  ext: string | null,
  opts: CertOptions & { kind?: LeafKind } = {},
): CertKeyPair {
  if (!keyMatchesCert(ca.certPem, ca.keyPem)) {
    throw new CertError('KEY_MISMATCH', `the CA key does not belong to the CA certificate ${describeCert(ca.certPem).subject}: pass the CA's own key`);
  }
  const caCert = pki.certificateFromPem(ca.certPem);
  const caKey = pki.privateKeyFromPem(ca.keyPem);
  const keyPem = generateRsaKeyPem(opts.keyBits);
  const cert = pki.createCertificate();
  cert.publicKey = publicOf(pki.privateKeyFromPem(keyPem));
  cert.serialNumber = randomSerial();
  Object.assign(cert.validity, validity(opts));
  cert.setSubject([{ shortName: 'CN', value: subjectCN }]);
  cert.setIssuer(caCert.subject.attributes);
  const kind = opts.kind ?? 'server';
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, dataEncipherment: kind === 'serviceCluster', critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: authorityKeyId(caCert) },
  ];
  if (kind === 'server') {
    extensions.push({ name: 'extKeyUsage', serverAuth: true, clientAuth: true });
    extensions.push({ name: 'subjectAltName', altNames: altNames(subjectCN) });
  } else if (kind === 'client') {
    extensions.push({ name: 'extKeyUsage', clientAuth: true });
  }
  cert.setExtensions([...extensions, ...qlikExtension(ext)]);
  return { certPem: signToPem(cert, caKey), keyPem };
}

// The key identifier a leaf names its CA by: the CA's own subjectKeyIdentifier when it has one.
function authorityKeyId(caCert: forge.pki.Certificate): string {
  const ski = caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  return ski?.subjectKeyIdentifier ? forge.util.hexToBytes(ski.subjectKeyIdentifier) : keyId(caCert.publicKey as forge.pki.rsa.PublicKey);
}

// The extension value for a role: the caller's override (null = none) or the default for the role.
function extFor(role: QlikCertRole, overrides: QlikCertSetOptions['extensionValues']): string | null {
  return overrides && role in overrides ? (overrides[role] ?? null) : DEFAULT_EXTENSION[role];
}

// A whole Qlik set for a hostname: a new CA <hostname>-CA (or opts.ca), server <hostname>, QlikClient and QlikServiceCluster.
export function generateQlikCertSet(hostname: string, opts: QlikCertSetOptions = {}): QlikCertSet {
  const overrides = opts.extensionValues;
  const root = opts.ca ?? generateCA(caSubject(hostname), extFor('root', overrides), opts);
  return {
    hostname,
    root,
    server: generateLeaf(root, hostname, extFor('server', overrides), { ...opts, kind: 'server' }),
    client: generateLeaf(root, CLIENT_SUBJECT, extFor('client', overrides), { ...opts, kind: 'client' }),
    serviceCluster: generateLeaf(root, SERVICE_CLUSTER_SUBJECT, extFor('serviceCluster', overrides), { ...opts, kind: 'serviceCluster' }),
  };
}
