// `qsadmin certs check` through the CLI on emulated node folders whose stores are filled by hand: a healthy site, then
// certificates made to be expired, to carry the wrong extension, to come from another CA, duplicated, or missing.
// Needs the CLI built (npx tsc -p tsconfig.json; npx oclif manifest).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLeaf, generateQlikCertSet, type CertKeyPair, type QlikCertSet } from '../src/certs/generate.js';
import { describeCert } from '../src/certs/inspect.js';
import { installQlikCertSet } from '../src/certs/install.js';
import { writeHostCfg } from '../src/emulator/qrs/host-cfg.js';
import { installRimCertificates } from '../src/emulator/qrs/certificates.js';
import { EmulatedCertStore } from '../src/host/emulated/certstore.js';
import type { StoreRef } from '../src/host/types.js';
import type { SiteConfig } from '../src/site/model.js';
import type { CertsCheckResult } from '../src/runbooks/certs.js';
import { qsadmin } from './helpers/cli.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const HOST = 'qs-central.check.test';
const RIM = 'qs-rim1.check.test';
const ACCOUNT = 'CHECK\\qliksvc';
const LM_MY: StoreRef = { location: 'LocalMachine', name: 'My' };
const CU_MY: StoreRef = { location: 'CurrentUser', name: 'My', user: ACCOUNT };
const PAST = { notBefore: new Date('2019-01-01T00:00:00Z'), notAfter: new Date('2022-01-01T00:00:00Z') };

let set: QlikCertSet;
let other: QlikCertSet;

// A site folder (site.json and node folders) with the set installed as QRS leaves it; `edit` changes the stores after.
async function makeSite(opts: { rim?: boolean; hostCfg?: string; edit?: (central: EmulatedCertStore) => Promise<void> } = {}): Promise<string> {
  const dir = tempDir('qsadmin-certs-check-');
  const nodes: SiteConfig['nodes'] = [{ name: 'central', hostname: HOST, role: 'central', address: '127.0.0.90', root: path.join(dir, 'nodes', 'central') }];
  if (opts.rim) nodes.push({ name: 'rim1', hostname: RIM, role: 'rim', address: '127.0.0.91', root: path.join(dir, 'nodes', 'rim1') });
  const site: SiteConfig = {
    name: 'check', driver: 'emulated', nodes, serviceAccount: ACCOUNT, shareRoot: path.join(dir, 'share'),
    database: { host: '127.0.0.90', port: 39432, service: null, superuser: 'postgres' },
  };
  fs.writeFileSync(path.join(dir, 'site.json'), JSON.stringify(site));
  const central = new EmulatedCertStore(nodes[0].root!, ACCOUNT);
  await installQlikCertSet(central, set, ACCOUNT);
  writeHostCfg(nodes[0].root!, opts.hostCfg ?? HOST);
  if (opts.rim) {
    await installRimCertificates(nodes[1].root!, generateQlikCertSet(RIM, { ca: set.root, keyBits: 1024 }), ACCOUNT);
    writeHostCfg(nodes[1].root!, RIM);
  }
  await opts.edit?.(central);
  return path.join(dir, 'site.json');
}

// Replace the certificate of a subject in a store by another one.
async function swap(store: EmulatedCertStore, ref: StoreRef, subject: string, pair: CertKeyPair): Promise<void> {
  for (const c of await store.list(ref)) if (c.subject === subject) await store.remove(ref, c.thumbprint);
  await store.put(ref, pair);
}

// Run `certs check` on a site file.
async function check(siteFile: string, extra: string[] = []) {
  return qsadmin(['certs', 'check', '--site', siteFile, '--state-dir', path.join(path.dirname(siteFile), 'state'), ...extra]);
}

beforeAll(() => {
  set = generateQlikCertSet(HOST, { keyBits: 1024 });
  other = generateQlikCertSet('qs-other.check.test', { keyBits: 1024 });
});

afterAll(() => cleanupTempDirs());

describe('qsadmin certs check', () => {
  it('passes a healthy two-node site and prints one row per certificate', async () => {
    const r = await check(await makeSite({ rim: true }));
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`central (${HOST}, from Host.cfg)`);
    expect(r.stdout).toContain(`rim1 (${RIM}, from Host.cfg)`);
    expect(r.stdout).toMatch(/LocalMachine\\My\s+server\s+qs-central\.check\.test\s+[0-9A-F]{40}\s+\d{4}-\d\d-\d\d\s+\d+\s+OK/);
    expect(r.stdout).toMatch(/CurrentUser\\My\s+client\s+QlikClient/);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('certificates ok');
  });

  it('fails with exit 4 on an expired server certificate and points to the §6.1 renewal', async () => {
    const expired = generateLeaf(set.root, HOST, 'Server', { kind: 'server', keyBits: 1024, ...PAST });
    const r = await check(await makeSite({ edit: (s) => swap(s, LM_MY, HOST, expired) }));
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toContain(`ERROR [EXPIRED] central: ${HOST} in LocalMachine\\My: expired on 2022-01-01T00:00:00.000Z`);
    expect(r.stdout).toMatch(/fix: renew the certificates \(guide §6\.1\)/);
    expect(r.stderr).toContain('certificates are expired, invalid or missing');
  });

  it('fails with exit 4 on a client certificate carrying the wrong extension value', async () => {
    const wrong = generateLeaf(set.root, 'QlikClient', 'Server', { kind: 'client', keyBits: 1024 });
    const r = await check(await makeSite({ edit: (s) => swap(s, CU_MY, 'QlikClient', wrong) }));
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toContain(`ERROR [WRONG_EXTENSION] central: QlikClient in CurrentUser(${ACCOUNT})\\My: its Qlik extension says "Server" but CurrentUser(${ACCOUNT})\\My requires "Client"`);
    expect(r.stdout).toMatch(/fix: delete it .*bootstrap mode/);
  });

  it('fails with exit 4 on a server certificate from another CA', async () => {
    const foreign = generateLeaf(other.root, HOST, 'Server', { kind: 'server', keyBits: 1024 });
    const r = await check(await makeSite({ edit: (s) => swap(s, LM_MY, HOST, foreign) }));
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toContain(`ERROR [BAD_CHAIN] central: ${HOST} in LocalMachine\\My: is not signed by the site CA ${HOST}-CA (it names qs-other.check.test-CA as issuer)`);
  });

  it('fails with exit 4 on duplicated client certificates, saying QRS deletes them', async () => {
    const second = generateLeaf(set.root, 'QlikClient', 'Client', { kind: 'client', keyBits: 1024 });
    const r = await check(await makeSite({ edit: async (s) => void (await s.put(CU_MY, second)) }));
    expect(r.exitCode).toBe(4);
    const dup = r.stdout.split('\n').filter((l) => l.startsWith('ERROR [DUPLICATE]'));
    expect(dup).toHaveLength(2);
    expect(dup[0]).toContain('QRS deletes all of them at its next start because duplicates are not allowed');
  });

  it('fails with exit 4 on a second root, and on a missing client certificate with the bootstrap fix', async () => {
    const r = await check(await makeSite({
      edit: async (s) => {
        await s.put({ location: 'LocalMachine', name: 'Root' }, { certPem: other.root.certPem });
        for (const c of await s.list(CU_MY)) await s.remove(CU_MY, c.thumbprint);
      },
    }));
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toMatch(/ERROR \[MULTIPLE_ROOTS\] central: qs-other\.check\.test-CA in LocalMachine\\Root: 2 Qlik root certificates on this node .*QRS stops with a fatal error/);
    expect(r.stdout).toMatch(/ERROR \[MISSING\] central: no client certificate \(QlikClient\)/);
    expect(r.stdout).toMatch(/fix: import it from the certificate backup, or run QRS in bootstrap mode/);
  });

  it('gives JSON with --json (and still exits 4)', async () => {
    const wrong = generateLeaf(set.root, 'QlikClient', 'Server', { kind: 'client', keyBits: 1024 });
    const r = await check(await makeSite({ edit: (s) => swap(s, CU_MY, 'QlikClient', wrong) }), ['--json']);
    expect(r.exitCode).toBe(4);
    const out = JSON.parse(r.stdout) as CertsCheckResult;
    expect(out.ok).toBe(false);
    expect(out.nodes[0].certificates.find((c) => c.subject === 'QlikClient')).toMatchObject({ status: 'error', store: 'CurrentUser\\My', thumbprint: describeCert(wrong.certPem).thumbprint });
    expect(out.findings.some((f) => f.code === 'WRONG_EXTENSION' && f.level === 'error')).toBe(true);
  });

  it('warns, without failing, when Host.cfg names another host (right after a hostname restore)', async () => {
    const r = await check(await makeSite({ hostCfg: 'qs-new.check.test' }), ['--warn-days', '10']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('central (qs-new.check.test, from Host.cfg)');
    expect(r.stdout).toContain(`WARNING [HOSTNAME_MISMATCH] central: ${HOST} in LocalMachine\\My: is issued to ${HOST} but the node's Qlik hostname is qs-new.check.test`);
  });

  it('warns about certificates that expire within --warn-days', async () => {
    const soon = generateLeaf(set.root, 'QlikClient', 'Client', { kind: 'client', keyBits: 1024, notAfter: new Date(Date.now() + 20 * 86_400_000) });
    const site = await makeSite({ edit: (s) => swap(s, CU_MY, 'QlikClient', soon) });
    const r = await check(site);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/WARNING \[EXPIRES_SOON\] central: QlikClient/);
    expect((await check(site, ['--warn-days', '10'])).stdout).not.toContain('EXPIRES_SOON');
  });
});
