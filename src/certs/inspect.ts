// Read certificates: subject, issuer, thumbprint as Windows shows it, validity, the Qlik extension, and whether a key belongs to a certificate.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { children, DER_TAG, oidString, parseDer } from './der.js';
import { CertError } from './errors.js';
import { QLIK_EXTENSION_OID } from './qlik.js';

export interface CertInfo {
  /** Subject CN (the whole subject when it has no CN). */
  subject: string;
  /** Issuer CN (the whole issuer when it has no CN). */
  issuer: string;
  /** Upper-case hex SHA-1 of the DER, as Windows shows it. */
  thumbprint: string;
  notBefore: Date;
  notAfter: Date;
  /** Value of the Qlik extension 1.3.6.1.5.5.7.13.3, null when absent. */
  qlikExtension: string | null;
  isCA: boolean;
  der: Buffer;
  pem: string;
}

// Turn a PEM string, a PEM buffer or a DER buffer into a Node X509Certificate.
export function toX509(cert: string | Buffer | X509Certificate): X509Certificate {
  if (cert instanceof X509Certificate) return cert;
  try {
    return new X509Certificate(cert);
  } catch (e) {
    throw new CertError('CORRUPT', `not a readable X.509 certificate (PEM or DER): ${(e as Error).message}`, { cause: e });
  }
}

// The DER bytes of a certificate given as PEM or DER.
export function certDer(cert: string | Buffer | X509Certificate): Buffer {
  return toX509(cert).raw;
}

// The PEM text of a certificate given as PEM or DER.
export function certPem(cert: string | Buffer | X509Certificate): string {
  return toX509(cert).toString();
}

// Upper-case hex SHA-1 of the certificate's DER, as Windows shows a thumbprint.
export function thumbprintOf(cert: string | Buffer | X509Certificate): string {
  return createHash('sha1').update(certDer(cert)).digest('hex').toUpperCase();
}

// Normalise a thumbprint typed by a user ("ab cd:ef...") to Windows form.
export function normalizeThumbprint(thumbprint: string): string {
  return thumbprint.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

// The CN of a Node distinguished-name string ("C=SE\nCN=host-CA"), or the whole name when there is no CN.
export function commonName(dn: string): string {
  const cn = dn.split('\n').find((line) => line.startsWith('CN='));
  return cn ? cn.slice(3) : dn.replace(/\n/g, ', ');
}

// Subject, issuer, thumbprint, validity, Qlik extension and CA flag of one certificate.
export function describeCert(cert: string | Buffer | X509Certificate): CertInfo {
  const x = toX509(cert);
  return {
    subject: commonName(x.subject),
    issuer: commonName(x.issuer),
    thumbprint: thumbprintOf(x),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    qlikExtension: extensionText(x.raw, QLIK_EXTENSION_OID),
    isCA: x.ca,
    der: x.raw,
    pem: x.toString(),
  };
}

// The value of the Qlik extension 1.3.6.1.5.5.7.13.3 of a certificate, or null when the certificate has none.
export function qlikExtensionValue(cert: string | Buffer | X509Certificate): string | null {
  return extensionText(certDer(cert), QLIK_EXTENSION_OID);
}

// The raw extnValue bytes (inside the OCTET STRING) of one extension, or null; read from DER so any key type works.
export function extensionBytes(der: Buffer, oid: string): Buffer | null {
  const tbs = children(parseDer(der))[0];
  const tagged = children(tbs).find((e) => e.tagClass === 'context' && e.tag === 3);
  if (!tagged) return null;
  for (const ext of children(children(tagged)[0])) {
    const parts = children(ext);
    if (oidString(parts[0].value) === oid) return Buffer.from(parts[parts.length - 1].value);
  }
  return null;
}

// The text an extension carries: a DER string type (UTF8, Printable, IA5, BMP, visible) or, failing that, the raw bytes as text.
export function extensionText(der: Buffer, oid: string): string | null {
  const raw = extensionBytes(der, oid);
  if (raw === null) return null;
  return decodeAsn1Text(raw);
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

// Decode one DER string value; bytes that are not a DER string are read as plain text (some tools write the value bare).
export function decodeAsn1Text(raw: Buffer): string {
  try {
    const node = parseDer(raw);
    if (node.tagClass === 'universal' && !node.constructed) {
      if (node.tag === DER_TAG.utf8String) return STRICT_UTF8.decode(node.value);
      if (node.tag === DER_TAG.octetString) return decodeAsn1Text(node.value);
      if (node.tag === DER_TAG.bmpString) return Buffer.from(node.value).swap16().toString('utf16le'); // UCS-2, big-endian
      return node.value.toString('latin1'); // PrintableString, IA5String, VisibleString: single-byte text
    }
  } catch {
    // not DER: fall through to the bare bytes
  }
  return raw.toString('utf8');
}

// True when the private key (PEM, PKCS#1 or PKCS#8) is the key of the certificate.
export function keyMatchesCert(cert: string | Buffer | X509Certificate, keyPem: string): boolean {
  try {
    return toX509(cert).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
