// Write and read password-protected PFX (PKCS#12) files: 3DES so every Windows Server imports them (stack-notes, Certificates).
import forge from 'node-forge';
import { CertError } from './errors.js';
import { certPem, keyMatchesCert } from './inspect.js';
import { installNativePkcs12Kdf } from './pkcs12-kdf.js';

installNativePkcs12Kdf();

export { CertError } from './errors.js';
export type { CertErrorCode } from './errors.js';

const pki = forge.pki;
const asn1 = forge.asn1;

export interface PfxContents {
  /** The certificate the key belongs to (or, without a key, the first certificate). */
  certPem: string;
  /** PKCS#1 PEM of the private key, null when the PFX carries none. */
  keyPem: string | null;
  /** The other certificates (chain), in file order. */
  chainPems: string[];
  /** The friendly name stored with the certificate or key, when there is one. */
  friendlyName?: string;
}

export interface WritePfxOptions {
  /** Friendly name attribute (an "extended property" Windows shows in the certificate console). */
  friendlyName?: string;
}

// Parse a PEM certificate with forge, failing with a CertError that says what was given.
function forgeCert(pem: string, what: string): forge.pki.Certificate {
  try {
    return pki.certificateFromPem(pem);
  } catch (e) {
    throw new CertError('UNSUPPORTED', `cannot put ${what} in a PFX: ${(e as Error).message} (only RSA certificates are supported)`, { cause: e });
  }
}

// Build a PFX holding a certificate, its key when given, and chain certificates; 3DES, SHA-1 MAC.
export function writePfx(pair: { certPem: string; keyPem?: string | null }, password: string, chainPems: string[] = [], opts: WritePfxOptions = {}): Buffer {
  if (pair.keyPem && !keyMatchesCert(pair.certPem, pair.keyPem)) {
    throw new CertError('KEY_MISMATCH', 'the private key does not belong to the certificate: refusing to write a PFX Windows would import without a usable key');
  }
  const key = pair.keyPem ? pki.privateKeyFromPem(pair.keyPem) : null;
  const certs = [pair.certPem, ...chainPems].map((pem, i) => forgeCert(pem, i === 0 ? 'the certificate' : `chain certificate ${i}`));
  const options: Record<string, unknown> = { algorithm: '3des', generateLocalKeyId: true };
  if (opts.friendlyName !== undefined) options.friendlyName = opts.friendlyName;
  const p12 = forge.pkcs12.toPkcs12Asn1(key, certs, password, options);
  return Buffer.from(asn1.toDer(p12).getBytes(), 'binary');
}

// Where a PFX came from, for messages: the file name or "the PFX".
function named(source?: string): string {
  return source ?? 'the PFX';
}

// Decode the PFX structure, turning forge's errors into CertErrors that name the file.
function openPfx(pfx: Buffer, password: string, source?: string): forge.pkcs12.Pkcs12Pfx {
  let der: forge.asn1.Asn1;
  try {
    der = asn1.fromDer(forge.util.createBuffer(pfx.toString('binary')));
  } catch (e) {
    throw new CertError('CORRUPT', `${named(source)} is not a PFX (PKCS#12) file or is damaged: ${(e as Error).message}; export it again`, { file: source, cause: e });
  }
  try {
    return forge.pkcs12.pkcs12FromAsn1(der, false, password);
  } catch (e) {
    const msg = (e as Error).message;
    if (/MAC could not be verified|wrong password|Invalid password/i.test(msg)) {
      throw new CertError('BAD_PASSWORD', `wrong password for ${named(source)}: the PFX's MAC does not verify with the password given; use the password the certificates were exported with`, { file: source, cause: e });
    }
    throw new CertError('CORRUPT', `${named(source)} cannot be read as a PFX: ${msg}; export it again`, { file: source, cause: e });
  }
}

// The PEM of a cert bag, keeping the exact DER bytes (the thumbprint must not change).
function bagCertPem(bag: forge.pkcs12.Bag): string {
  const node = bag.cert ? pki.certificateToAsn1(bag.cert) : (bag.asn1 as forge.asn1.Asn1 | undefined);
  if (!node) throw new CertError('CORRUPT', 'a certificate bag in the PFX holds no certificate');
  return certPem(Buffer.from(asn1.toDer(node).getBytes(), 'binary'));
}

// The friendly name attribute of a bag, if any.
function friendlyNameOf(bag: forge.pkcs12.Bag | undefined): string | undefined {
  const v = bag?.attributes?.friendlyName;
  return Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
}

// Read a PFX: the certificate, its private key (or null) and the chain; wrong password or damage → CertError naming `source`.
export function readPfx(pfx: Buffer, password: string, source?: string): PfxContents {
  const p12 = openPfx(pfx, password, source);
  const keyBags = [
    ...(p12.getBags({ bagType: pki.oids.pkcs8ShroudedKeyBag })[pki.oids.pkcs8ShroudedKeyBag] ?? []),
    ...(p12.getBags({ bagType: pki.oids.keyBag })[pki.oids.keyBag] ?? []),
  ];
  const certBags = p12.getBags({ bagType: pki.oids.certBag })[pki.oids.certBag] ?? [];
  if (certBags.length === 0) throw new CertError('CORRUPT', `${named(source)} holds no certificate; export it again with the certificate`, { file: source });
  if (keyBags.length > 0 && !keyBags[0].key) {
    throw new CertError('UNSUPPORTED', `${named(source)} holds a private key that is not RSA; Qlik certificates are RSA`, { file: source });
  }
  const keyPem = keyBags.length > 0 ? pki.privateKeyToPem(keyBags[0].key!) : null;
  const pems = certBags.map(bagCertPem);
  let index = keyPem ? pems.findIndex((pem) => keyMatchesCert(pem, keyPem)) : 0;
  if (index < 0) {
    throw new CertError('KEY_MISMATCH', `${named(source)} holds a private key that belongs to none of its certificates`, { file: source });
  }
  if (!keyPem) index = 0;
  const result: PfxContents = { certPem: pems[index], keyPem, chainPems: pems.filter((_, i) => i !== index) };
  const friendlyName = friendlyNameOf(certBags[index]) ?? friendlyNameOf(keyBags[0]);
  if (friendlyName !== undefined) result.friendlyName = friendlyName;
  return result;
}
