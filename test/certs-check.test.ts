// The certificate checks (`qsadmin certs check`) and what QRS does at start, on stores built in memory.
import { beforeAll, describe, expect, it } from 'vitest';
import type { StoreRef, StoredCert } from '../src/host/types.js';
import { checkCertificates, hasErrors, qrsStartupVerdict } from '../src/certs/check.js';
import type { Finding, NodeCertStores, StoreCerts } from '../src/certs/check.js';
import { generateLeaf, generateQlikCertSet } from '../src/certs/generate.js';
import type { CertKeyPair, QlikCertSet } from '../src/certs/generate.js';
import { describeCert } from '../src/certs/inspect.js';
import { qlikCertLocations } from '../src/certs/qlik.js';

const HOST = 'central.corp.example.com';
const ACCOUNT = 'CORP\\qliksvc';
const LM_MY: StoreRef = { location: 'LocalMachine', name: 'My' };
const LM_ROOT: StoreRef = { location: 'LocalMachine', name: 'Root' };
const CU_MY: StoreRef = { location: 'CurrentUser', name: 'My', user: ACCOUNT };
const CU_ROOT: StoreRef = { location: 'CurrentUser', name: 'Root', user: ACCOUNT };
const PAST = { notBefore: new Date('2018-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') };

let site: QlikCertSet; // the site's own set
let other: QlikCertSet; // another site's set (another CA)
let rim: QlikCertSet; // a rim node's set, signed by the site CA

beforeAll(() => {
  const t = Date.now();
  site = generateQlikCertSet(HOST, { keyBits: 1024 });
  other = generateQlikCertSet('other.corp.example.com', { keyBits: 1024 });
  rim = generateQlikCertSet('rim1.corp.example.com', { keyBits: 1024, ca: site.root });
  console.log(`[certs-check] three 1024-bit sets: ${Date.now() - t} ms`);
});

// A StoredCert for a certificate in a store, as a host driver would list it.
function stored(pair: CertKeyPair, store: StoreRef, hasPrivateKey = true): StoredCert {
  const d = describeCert(pair.certPem);
  return { store, thumbprint: d.thumbprint, subject: d.subject, issuer: d.issuer, notBefore: d.notBefore, notAfter: d.notAfter, hasPrivateKey, qlikExtension: d.qlikExtension, der: d.der };
}

// The four stores of a node holding a set in its canonical locations.
function storesOf(set: QlikCertSet): StoreCerts[] {
  const stores: StoreCerts[] = [LM_MY, LM_ROOT, CU_MY, CU_ROOT].map((store) => ({ store, certs: [] }));
  for (const loc of qlikCertLocations(ACCOUNT)) {
    const s = stores.find((x) => x.store.location === loc.store.location && x.store.name === loc.store.name)!;
    s.certs.push(stored(set[loc.role], s.store, loc.withKey));
  }
  return stores;
}

// The certificates of one store of a node's stores.
function certsIn(stores: StoreCerts[], store: StoreRef): StoredCert[] {
  return stores.find((s) => s.store.location === store.location && s.store.name === store.name)!.certs;
}

// A central node with the site set, optionally changed by `edit`.
function centralNode(edit?: (stores: StoreCerts[]) => void, hostname = HOST): NodeCertStores {
  const stores = storesOf(site);
  edit?.(stores);
  return { node: 'central', hostname, isCentral: true, stores };
}

// Findings of one level and code.
function pick(findings: Finding[], code: string, level?: string): Finding[] {
  return findings.filter((f) => f.code === code && (!level || f.level === level));
}

describe('checkCertificates', () => {
  it('finds no error or warning in a good central + rim site, and one ok line per certificate', () => {
    const findings = checkCertificates([centralNode(), { node: 'rim1', hostname: rim.hostname, isCentral: false, stores: storesOf(rim) }]);
    expect(findings.filter((f) => f.level !== 'ok')).toEqual([]);
    expect(hasErrors(findings)).toBe(false);
    expect(findings.filter((f) => f.node === 'central' && f.code === 'OK')).toHaveLength(5);
  });

  it('reports an expired server certificate with the §6.1 renewal procedure as fix', () => {
    const expired = generateLeaf(site.root, HOST, 'Server', { keyBits: 1024, kind: 'server', ...PAST });
    const findings = checkCertificates([centralNode((s) => { certsIn(s, LM_MY)[0] = stored(expired, LM_MY); })]);
    const [f] = pick(findings, 'EXPIRED', 'error');
    expect(f).toBeDefined();
    expect(f.store).toBe('LocalMachine\\My');
    expect(f.thumbprint).toBe(describeCert(expired.certPem).thumbprint);
    expect(f.fix).toMatch(/§6\.1/);
    expect(f.fix).toMatch(/except the repository database/);
    expect(f.fix).toMatch(/Exported Certificates/);
    expect(hasErrors(findings)).toBe(true);
  });

  it('warns when a certificate expires within warnDays, and reports a certificate not yet valid', () => {
    const notAfter = describeCert(site.client.certPem).notAfter;
    const soon = checkCertificates([centralNode()], { now: new Date(notAfter.getTime() - 10 * 86_400_000), warnDays: 30 });
    expect(pick(soon, 'EXPIRES_SOON', 'warning').map((f) => f.subject)).toContain('QlikClient');
    // A certificate that only expires soon is not expired: its fix never says so.
    for (const f of pick(soon, 'EXPIRES_SOON')) {
      expect(f.fix).toMatch(/§6\.1/);
      expect(f.fix).not.toMatch(/expired/);
    }
    expect(hasErrors(soon)).toBe(false);
    const early = checkCertificates([centralNode()], { now: new Date('2000-01-01T00:00:00Z') });
    expect(pick(early, 'NOT_YET_VALID', 'error').length).toBe(5);
  });

  it('reports a wrong or missing extension for the store', () => {
    const wrong = generateLeaf(site.root, 'QlikClient', 'Server', { keyBits: 1024, kind: 'client' });
    const findings = checkCertificates([centralNode((s) => { certsIn(s, CU_MY)[0] = stored(wrong, CU_MY); })]);
    const [f] = pick(findings, 'WRONG_EXTENSION', 'error');
    expect(f.store).toBe('CurrentUser\\My');
    expect(f.message).toMatch(/"Server".*requires "Client"/);
    const none = generateLeaf(site.root, 'QlikClient', null, { keyBits: 1024, kind: 'client' });
    const missing = checkCertificates([centralNode((s) => { certsIn(s, CU_MY)[0] = stored(none, CU_MY); })]);
    expect(pick(missing, 'NO_EXTENSION', 'error')).toHaveLength(1);
    expect(pick(missing, 'MISSING')).toEqual([]); // still recognised as the client certificate by its subject
  });

  it('reports a certificate issued by another CA', () => {
    const findings = checkCertificates([centralNode((s) => { certsIn(s, CU_MY)[0] = stored(other.client, CU_MY); })]);
    const [f] = pick(findings, 'BAD_CHAIN', 'error');
    expect(f.subject).toBe('QlikClient');
    expect(f.message).toContain(`site CA ${HOST}-CA`);
    expect(f.message).toContain('other.corp.example.com-CA');
  });

  it('reports duplicate client certificates: QRS deletes them all', () => {
    const second = generateLeaf(site.root, 'QlikClient', 'Client', { keyBits: 1024, kind: 'client' });
    const findings = checkCertificates([centralNode((s) => certsIn(s, CU_MY).push(stored(second, CU_MY)))]);
    const dups = pick(findings, 'DUPLICATE', 'error');
    expect(dups.map((f) => f.thumbprint).sort()).toEqual([describeCert(site.client.certPem).thumbprint, describeCert(second.certPem).thumbprint].sort());
    expect(dups[0].message).toMatch(/deletes all of them/);
  });

  it('reports a second Qlik root (fatal for QRS), pointing at the foreign one', () => {
    const findings = checkCertificates([centralNode((s) => certsIn(s, LM_ROOT).push(stored(other.root, LM_ROOT, false)))]);
    const roots = pick(findings, 'MULTIPLE_ROOTS', 'error');
    expect(roots.map((f) => f.thumbprint)).toEqual([describeCert(other.root.certPem).thumbprint]);
    expect(roots[0].fix).toMatch(/never removes roots/);
  });

  it('reports a missing private key on the central node, but not for the rim node\'s CA copy', () => {
    const central = checkCertificates([centralNode((s) => {
      certsIn(s, LM_MY)[0] = stored(site.server, LM_MY, false);
      certsIn(s, LM_ROOT)[0] = stored(site.root, LM_ROOT, false);
    })]);
    expect(pick(central, 'NO_KEY', 'error').map((f) => f.store).sort()).toEqual(['LocalMachine\\My', 'LocalMachine\\Root']);
    const rimOnly = checkCertificates([centralNode(), { node: 'rim1', hostname: rim.hostname, isCentral: false, stores: storesOf(rim).map((s) => ({ ...s, certs: s.certs.map((c) => (s.store.name === 'Root' ? { ...c, hasPrivateKey: false } : c)) })) }]);
    expect(pick(rimOnly, 'NO_KEY')).toEqual([]);
  });

  it('warns when the server certificate is not issued to the node\'s Qlik hostname', () => {
    const findings = checkCertificates([centralNode(undefined, 'central-new.corp.example.com')]);
    const [f] = pick(findings, 'HOSTNAME_MISMATCH', 'warning');
    expect(f.subject).toBe(HOST);
    expect(f.message).toContain('central-new.corp.example.com');
    expect(hasErrors(findings)).toBe(false);
  });

  it('reports missing certificates of the set (QlikServiceCluster only as a warning)', () => {
    const findings = checkCertificates([centralNode((s) => {
      certsIn(s, CU_MY).length = 0;
      certsIn(s, LM_MY).splice(1, 1); // QlikServiceCluster
    })]);
    const missing = pick(findings, 'MISSING');
    expect(missing.map((f) => [f.level, f.store, f.subject])).toEqual([
      ['warning', 'LocalMachine\\My', 'QlikServiceCluster'],
      ['error', 'CurrentUser\\My', 'QlikClient'],
    ]);
    expect(missing[1].fix).toMatch(/Repository\.exe -bootstrap/);
  });

  it('does not report stores that were not inspected as missing', () => {
    const node = centralNode((s) => s.splice(2, 1)); // no CurrentUser\My listed
    expect(pick(checkCertificates([node]), 'MISSING')).toEqual([]);
  });

  it('warns about more than 300 certificates in a Root store and ignores non-Qlik roots otherwise', () => {
    const foreign = { ...stored(other.root, LM_ROOT), qlikExtension: null, subject: 'Some Vendor Root', issuer: 'Some Vendor Root' };
    const many = Array.from({ length: 301 }, (_, i) => ({ ...foreign, thumbprint: i.toString(16).padStart(40, '0') }));
    const findings = checkCertificates([centralNode((s) => certsIn(s, LM_ROOT).push(...many))]);
    expect(pick(findings, 'TOO_MANY_ROOTS', 'warning').map((f) => f.store)).toEqual(['LocalMachine\\Root']);
    expect(pick(findings, 'MULTIPLE_ROOTS')).toEqual([]);
    const fewer = checkCertificates([centralNode((s) => certsIn(s, LM_ROOT).push(...many.slice(0, 299)))]);
    expect(pick(fewer, 'TOO_MANY_ROOTS')).toEqual([]);
  });
});

describe('qrsStartupVerdict', () => {
  it('generates a set on the central node when there are no certificates at all', () => {
    const empty: StoreCerts[] = [LM_MY, LM_ROOT, CU_MY, CU_ROOT].map((store) => ({ store, certs: [] }));
    expect(qrsStartupVerdict(empty, HOST).action).toBe('generate');
    const onRim = qrsStartupVerdict(empty, 'rim1', { isCentral: false });
    expect(onRim.action).toBe('ok');
    expect(onRim.action === 'ok' && onRim.missing.sort()).toEqual(['client', 'root', 'server', 'serviceCluster']);
  });

  it('generates after the §6.1 renewal, listing the stale CA copy left in CurrentUser\\Root', () => {
    const stores = storesOf(site);
    for (const s of stores) if (!(s.store.location === 'CurrentUser' && s.store.name === 'Root')) s.certs.length = 0;
    const v = qrsStartupVerdict(stores, HOST);
    expect(v.action).toBe('generate');
    expect(v.action === 'generate' && v.staleRoots.map((r) => r.thumbprint)).toEqual([describeCert(site.root.certPem).thumbprint]);
  });

  it('is ok with a good set', () => {
    const v = qrsStartupVerdict(storesOf(site), HOST);
    expect(v).toMatchObject({ action: 'ok', missing: [], invalid: [] });
  });

  it('deletes ALL client certificates when there is more than one', () => {
    const second = generateLeaf(site.root, 'QlikClient', 'Client', { keyBits: 1024, kind: 'client' });
    const stores = storesOf(site);
    certsIn(stores, CU_MY).push(stored(second, CU_MY));
    const v = qrsStartupVerdict(stores, HOST);
    expect(v.action).toBe('delete-duplicates');
    if (v.action !== 'delete-duplicates') return;
    expect(v.thumbprints.sort()).toEqual([describeCert(site.client.certPem).thumbprint, describeCert(second.certPem).thumbprint].sort());
    expect(v.deletions.every((d) => d.store.location === 'CurrentUser' && d.store.name === 'My')).toBe(true);
    expect(v.log.join('\n')).toMatch(/2 client certificates found \(2 valid, 0 invalid\)/);
  });

  it('deletes ALL server certificates when there is more than one, leaving QlikServiceCluster alone', () => {
    const second = generateLeaf(site.root, HOST, 'Server', { keyBits: 1024, kind: 'server' });
    const stores = storesOf(site);
    certsIn(stores, LM_MY).push(stored(second, LM_MY));
    const v = qrsStartupVerdict(stores, HOST);
    expect(v.action === 'delete-duplicates' && v.thumbprints.length).toBe(2);
    expect(v.action === 'delete-duplicates' && v.thumbprints).not.toContain(describeCert(site.serviceCluster.certPem).thumbprint);
  });

  it('is fatal with more than one root', () => {
    const stores = storesOf(site);
    certsIn(stores, LM_ROOT).push(stored(other.root, LM_ROOT));
    const v = qrsStartupVerdict(stores, HOST);
    expect(v.action).toBe('fatal');
    expect(v.action === 'fatal' && v.thumbprints.sort()).toEqual([describeCert(site.root.certPem).thumbprint, describeCert(other.root.certPem).thumbprint].sort());
    expect(v.action === 'fatal' && v.reason).toMatch(/more than one root/);
  });

  it('is fatal with one invalid root: expired, wrong extension, or no key on the central node', () => {
    const expiredSet = generateQlikCertSet(HOST, { keyBits: 1024, ...PAST });
    const v1 = qrsStartupVerdict(storesOf(expiredSet), HOST);
    expect(v1.action === 'fatal' && v1.reason).toMatch(/invalid root certificate.*expired/);
    const wrongExt = generateQlikCertSet(HOST, { keyBits: 1024, extensionValues: { root: 'Server' } });
    expect(qrsStartupVerdict(storesOf(wrongExt), HOST).action).toBe('fatal');
    const noKey = storesOf(site);
    certsIn(noKey, LM_ROOT)[0] = stored(site.root, LM_ROOT, false);
    const v3 = qrsStartupVerdict(noKey, HOST);
    expect(v3.action === 'fatal' && v3.reason).toMatch(/private key/);
    expect(qrsStartupVerdict(noKey, HOST, { isCentral: false }).action).toBe('ok');
  });

  it('logs a single invalid client certificate without deleting it', () => {
    const expired = generateLeaf(site.root, 'QlikClient', 'Client', { keyBits: 1024, kind: 'client', ...PAST });
    const stores = storesOf(site);
    certsIn(stores, CU_MY)[0] = stored(expired, CU_MY);
    const v = qrsStartupVerdict(stores, HOST);
    expect(v.action).toBe('ok');
    expect(v.action === 'ok' && v.invalid.map((i) => [i.role, i.thumbprint])).toEqual([['client', describeCert(expired.certPem).thumbprint]]);
    expect(v.log.join('\n')).toMatch(/invalid client certificate found/);
  });
});
