// Generation of Qlik certificate sets: subjects, issuers, the Qlik extension per location, SAN, validity, overrides, a set signed by an existing CA.
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateLeaf, generateQlikCertSet, qlikExtensionDer } from '../src/certs/generate.js';
import type { QlikCertSet } from '../src/certs/generate.js';
import { decodeAsn1Text, describeCert, keyMatchesCert, qlikExtensionValue } from '../src/certs/inspect.js';
import { QLIK_EXTENSION_OID, expectedExtension, qlikCertLocations } from '../src/certs/qlik.js';

const HOST = 'qlik-central.corp.example.com';
let set: QlikCertSet;
let setMs = 0;

beforeAll(() => {
  const t = Date.now();
  set = generateQlikCertSet(HOST);
  setMs = Date.now() - t;
  console.log(`[certs-generate] one 2048-bit Qlik set (4 keys, 4 signatures): ${setMs} ms`);
});

// True when `child` was signed by `ca` and names it as issuer.
function signedBy(childPem: string, caPem: string): boolean {
  const child = new X509Certificate(childPem);
  const ca = new X509Certificate(caPem);
  return child.checkIssued(ca) && child.verify(ca.publicKey);
}

describe('generateQlikCertSet', () => {
  it('makes the CA <host>-CA, self-signed, a CA, with extension Root', () => {
    const d = describeCert(set.root.certPem);
    expect(d.subject).toBe(`${HOST}-CA`);
    expect(d.issuer).toBe(`${HOST}-CA`);
    expect(d.isCA).toBe(true);
    expect(d.qlikExtension).toBe('Root');
    expect(signedBy(set.root.certPem, set.root.certPem)).toBe(true);
    expect(d.thumbprint).toMatch(/^[0-9A-F]{40}$/);
  });

  it('issues server, QlikClient and QlikServiceCluster from the CA with their extension values', () => {
    const expected = { server: [HOST, 'Server'], client: ['QlikClient', 'Client'], serviceCluster: ['QlikServiceCluster', 'Server'] } as const;
    for (const [role, [subject, ext]] of Object.entries(expected)) {
      const d = describeCert(set[role as keyof typeof expected].certPem);
      expect(d.subject, role).toBe(subject);
      expect(d.issuer, role).toBe(`${HOST}-CA`);
      expect(d.isCA, role).toBe(false);
      expect(d.qlikExtension, role).toBe(ext);
      expect(signedBy(set[role as keyof typeof expected].certPem, set.root.certPem), role).toBe(true);
      expect(keyMatchesCert(set[role as keyof typeof expected].certPem, set[role as keyof typeof expected].keyPem), role).toBe(true);
    }
  });

  it('gives every certificate the extension value its canonical store expects', () => {
    const locations = qlikCertLocations('CORP\\qliksvc');
    expect(locations).toHaveLength(5);
    for (const loc of locations) {
      const cert = set[loc.role];
      expect(qlikExtensionValue(cert.certPem), `${loc.role} in ${loc.store.location}\\${loc.store.name}`).toBe(expectedExtension(loc.store));
      expect(describeCert(cert.certPem).subject).toBe(loc.subject(HOST));
    }
    expect(locations.filter((l) => l.role === 'root').map((l) => [l.store.location, l.withKey])).toEqual([['LocalMachine', true], ['CurrentUser', false]]);
    expect(locations.find((l) => l.role === 'client')!.store).toEqual({ location: 'CurrentUser', name: 'My', user: 'CORP\\qliksvc' });
  });

  it('maps stores to extension values as the guide does', () => {
    expect(expectedExtension({ location: 'CurrentUser', name: 'My' })).toBe('Client');
    expect(expectedExtension({ location: 'LocalMachine', name: 'My' })).toBe('Server');
    expect(expectedExtension({ location: 'LocalMachine', name: 'Root' })).toBe('Root');
    expect(expectedExtension({ location: 'CurrentUser', name: 'Root' })).toBe('Root');
  });

  it('gives the server certificate a DNS SAN and serverAuth+clientAuth, the client clientAuth only', () => {
    const server = new X509Certificate(set.server.certPem);
    expect(server.subjectAltName).toBe(`DNS:${HOST}`);
    expect(server.checkHost(HOST)).toBe(HOST);
    expect(server.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    const client = new X509Certificate(set.client.certPem);
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('defaults validity to a day ago until five years ahead', () => {
    const d = describeCert(set.server.certPem);
    const now = Date.now();
    expect(now - d.notBefore.getTime()).toBeGreaterThan(23 * 3600_000);
    expect(now - d.notBefore.getTime()).toBeLessThan(25 * 3600_000);
    const years = (d.notAfter.getTime() - now) / (365 * 86_400_000);
    expect(years).toBeGreaterThan(4.99);
    expect(years).toBeLessThan(5.01);
  });

  it('adds an IP SAN when the hostname is an address, honours dates, overrides and an existing CA', () => {
    const notBefore = new Date('2020-01-01T00:00:00Z');
    const notAfter = new Date('2021-01-01T00:00:00Z');
    const rim = generateQlikCertSet('10.1.2.3', { ca: set.root, keyBits: 1024, notBefore, notAfter, extensionValues: { client: 'Server', serviceCluster: null } });
    expect(rim.root).toBe(set.root);
    const server = new X509Certificate(rim.server.certPem);
    expect(server.subjectAltName).toBe('DNS:10.1.2.3, IP Address:10.1.2.3');
    expect(signedBy(rim.server.certPem, set.root.certPem)).toBe(true);
    expect(describeCert(rim.server.certPem).notBefore.toISOString()).toBe(notBefore.toISOString());
    expect(describeCert(rim.server.certPem).notAfter.toISOString()).toBe(notAfter.toISOString());
    expect(qlikExtensionValue(rim.client.certPem)).toBe('Server');
    expect(qlikExtensionValue(rim.serviceCluster.certPem)).toBeNull();
    expect(qlikExtensionValue(rim.server.certPem)).toBe('Server');
  });

  it('refuses a CA whose key does not match it', () => {
    const other = generateLeaf(set.root, 'x', null, { keyBits: 1024, kind: 'client' });
    expect(() => generateLeaf({ certPem: set.root.certPem, keyPem: other.keyPem }, 'y', null, { keyBits: 1024 })).toThrow(/does not belong/);
  });
});

describe('reading the Qlik extension', () => {
  it('encodes the value as a DER UTF8String', () => {
    expect(Buffer.from(qlikExtensionDer('Server'), 'binary').toString('hex')).toBe('0c06' + Buffer.from('Server').toString('hex'));
  });

  it('reads UTF8String, PrintableString, IA5String, BMPString and bare text', () => {
    expect(decodeAsn1Text(Buffer.from('0c06' + Buffer.from('Client').toString('hex'), 'hex'))).toBe('Client');
    expect(decodeAsn1Text(Buffer.from('1304' + Buffer.from('Root').toString('hex'), 'hex'))).toBe('Root');
    expect(decodeAsn1Text(Buffer.from('1606' + Buffer.from('Server').toString('hex'), 'hex'))).toBe('Server');
    expect(decodeAsn1Text(Buffer.from('1e08' + Buffer.from('Root', 'utf16le').swap16().toString('hex'), 'hex'))).toBe('Root');
    expect(decodeAsn1Text(Buffer.from('Server'))).toBe('Server');
  });

  it('finds a PrintableString extension in a certificate made by another tool, and null when absent', () => {
    const keys = forge.pki.rsa.generateKeyPair({ bits: 512, e: 0x10001 });
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = '01';
    cert.validity.notBefore = new Date('2024-01-01');
    cert.validity.notAfter = new Date('2034-01-01');
    cert.setSubject([{ shortName: 'CN', value: 'tool' }]);
    cert.setIssuer([{ shortName: 'CN', value: 'tool' }]);
    const printable = forge.asn1.toDer(forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.PRINTABLESTRING, false, 'Client')).getBytes();
    cert.setExtensions([{ id: QLIK_EXTENSION_OID, value: printable }]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
    expect(qlikExtensionValue(der)).toBe('Client');
    cert.setExtensions([]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    expect(qlikExtensionValue(forge.pki.certificateToPem(cert))).toBeNull();
  });

  it('keyMatchesCert tells a foreign key apart', () => {
    expect(keyMatchesCert(set.server.certPem, set.server.keyPem)).toBe(true);
    expect(keyMatchesCert(set.server.certPem, set.client.keyPem)).toBe(false);
    expect(keyMatchesCert(set.server.certPem, 'not a key')).toBe(false);
  });

  it('describes DER as it describes PEM, with the thumbprint Windows shows', () => {
    const pem = describeCert(set.client.certPem);
    const der = describeCert(pem.der);
    expect(der.thumbprint).toBe(pem.thumbprint);
    expect(pem.thumbprint).toBe(new X509Certificate(set.client.certPem).fingerprint.replace(/:/g, ''));
  });
});

describe('DER reading without node-forge', () => {
  it('reads the same Qlik extension values as forge from every certificate of a set', () => {
    for (const role of ['root', 'server', 'client', 'serviceCluster'] as const) {
      const cert = forge.pki.certificateFromPem(set[role].certPem);
      const ext = cert.extensions.find((e: { id: string }) => e.id === QLIK_EXTENSION_OID) as { value: string } | undefined;
      const raw = Buffer.from(ext!.value, 'binary');
      const fromForge = forge.asn1.fromDer(forge.util.createBuffer(raw.toString('binary')));
      expect(describeCert(set[role].certPem).qlikExtension).toBe(forge.util.decodeUtf8(fromForge.value as string));
    }
  });

  it('reads bytes that are not DER (or have bytes left over) as plain text', () => {
    expect(decodeAsn1Text(Buffer.from('0c03414243ff', 'hex'))).toBe(Buffer.from('0c03414243ff', 'hex').toString('utf8'));
    expect(decodeAsn1Text(Buffer.from('0c05414243', 'hex'))).toBe('\u000c\u0005ABC'); // says 5 bytes, holds 3
    expect(decodeAsn1Text(Buffer.from('0c02c328', 'hex'))).toBe(Buffer.from('0c02c328', 'hex').toString('utf8')); // invalid UTF-8 inside
  });
});
