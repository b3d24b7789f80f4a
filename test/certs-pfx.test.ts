// PFX writing and reading: round trip, Node's TLS loads our PFX, wrong password and damage name the file, PFX without a key.
import { spawnSync } from 'node:child_process';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateQlikCertSet } from '../src/certs/generate.js';
import type { QlikCertSet } from '../src/certs/generate.js';
import { describeCert, keyMatchesCert } from '../src/certs/inspect.js';
import { CertError, readPfx, writePfx } from '../src/certs/pfx.js';

let set: QlikCertSet;
const HAS_OPENSSL = spawnSync('openssl', ['version']).status === 0;

beforeAll(() => {
  set = generateQlikCertSet('pfx-host.example.com');
});

// The CertError a function throws (fails the test when it throws nothing or something else).
function certErrorOf(fn: () => unknown): CertError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CertError);
    return e as CertError;
  }
  throw new Error('expected a CertError, nothing was thrown');
}

describe('writePfx / readPfx', () => {
  it('round-trips certificate, key, chain and friendly name with the thumbprint unchanged', () => {
    const pfx = writePfx(set.server, 'S3cret!', [set.root.certPem], { friendlyName: 'Qlik server' });
    const back = readPfx(pfx, 'S3cret!', 'server.pfx');
    expect(describeCert(back.certPem).thumbprint).toBe(describeCert(set.server.certPem).thumbprint);
    expect(back.keyPem).not.toBeNull();
    expect(keyMatchesCert(back.certPem, back.keyPem!)).toBe(true);
    expect(back.chainPems.map((p) => describeCert(p).thumbprint)).toEqual([describeCert(set.root.certPem).thumbprint]);
    expect(back.friendlyName).toBe('Qlik server');
  });

  it('finds the certificate the key belongs to even when the chain comes first in the file', () => {
    const pfx = writePfx(set.client, 'pw', [set.root.certPem]);
    const back = readPfx(pfx, 'pw');
    expect(describeCert(back.certPem).subject).toBe('QlikClient');
  });

  it('writes a PFX that Node\'s TLS loads (3DES, no legacy provider)', () => {
    const pfx = writePfx(set.server, 'S3cret!', [set.root.certPem]);
    expect(() => tls.createSecureContext({ pfx, passphrase: 'S3cret!' })).not.toThrow();
    expect(() => tls.createSecureContext({ pfx, passphrase: 'nope' })).toThrow();
  });

  it.skipIf(!HAS_OPENSSL)('uses 3DES for the key and a SHA-1 MAC (what Windows Server 2016 imports)', () => {
    const pfx = writePfx(set.server, 'pw');
    const r = spawnSync('openssl', ['pkcs12', '-info', '-noout', '-passin', 'pass:pw'], { input: pfx });
    const info = r.stdout.toString() + r.stderr.toString();
    expect(info).toMatch(/Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/);
    expect(info).toMatch(/MAC: sha1/);
  });

  it('says "wrong password for <file>" with code BAD_PASSWORD and the file', () => {
    const pfx = writePfx(set.client, 'right');
    const err = certErrorOf(() => readPfx(pfx, 'wrong', 'C:\\backup\\certs\\client.pfx'));
    expect(err.code).toBe('BAD_PASSWORD');
    expect(err.file).toBe('C:\\backup\\certs\\client.pfx');
    expect(err.message).toMatch(/^wrong password for C:\\backup\\certs\\client\.pfx: the PFX's MAC does not verify/);
  });

  it('reports a damaged file as CORRUPT, naming it', () => {
    const pfx = writePfx(set.client, 'pw');
    const err = certErrorOf(() => readPfx(pfx.subarray(0, pfx.length / 2), 'pw', 'half.pfx'));
    expect(err.code).toBe('CORRUPT');
    expect(err.message).toContain('half.pfx');
    expect(certErrorOf(() => readPfx(Buffer.from('hello'), 'pw', 'text.pfx')).code).toBe('CORRUPT');
  });

  it('writes and reads a PFX without a private key (the CurrentUser\\Root copy of the CA)', () => {
    const pfx = writePfx({ certPem: set.root.certPem }, 'pw');
    const back = readPfx(pfx, 'pw', 'root.pfx');
    expect(back.keyPem).toBeNull();
    expect(describeCert(back.certPem).subject).toBe('pfx-host.example.com-CA');
    expect(back.chainPems).toEqual([]);
  });

  it('refuses to write a key that does not belong to the certificate', () => {
    const err = certErrorOf(() => writePfx({ certPem: set.server.certPem, keyPem: set.client.keyPem }, 'pw'));
    expect(err.code).toBe('KEY_MISMATCH');
  });
});

describe('PKCS#12 key derivation with native SHA-1', () => {
  it('derives the same bytes as node-forge for every id, odd lengths and passwords', async () => {
    const { pkcs12KeySha1, forgePkcs12Key } = await import('../src/certs/pkcs12-kdf.js');
    const forgeMod = (await import('node-forge')).default;
    const { randomBytes } = await import('node:crypto');
    for (const password of ['', 'benchmark-pfx-password', 'pässwörd € 中文', 'x'.repeat(70), undefined]) {
      for (const [id, n] of [[1, 24], [2, 8], [3, 20], [1, 41]] as const) {
        const salt = randomBytes(id === 3 ? 20 : 8);
        const ours = pkcs12KeySha1(password, salt, id, 2048, n);
        const theirs = Buffer.from(forgePkcs12Key(password, forgeMod.util.createBuffer(salt.toString('binary')), id, 2048, n).getBytes(), 'binary');
        expect(ours.equals(theirs), `${password} ${id} ${n}`).toBe(true);
      }
    }
  });
});
