// The PKCS#12 key derivation (RFC 7292, appendix B.2) with Node's native SHA-1, installed in place of node-forge's
// pure-JavaScript one. Every PFX written or read derives two or three keys with 2,048 SHA-1 rounds each; forge's own
// hash made exporting a site's certificate set cost about 0.3 s of CPU, native SHA-1 makes it a few milliseconds.
// Same inputs, same bytes out (a test compares the two). Any other hash than SHA-1 goes to forge's implementation.
import { createHash } from 'node:crypto';
import forge from 'node-forge';

type ForgeBytes = forge.util.ByteStringBuffer;
type Kdf = (password: string | null | undefined, salt: ForgeBytes | string, id: number, iter: number, n: number, md?: forge.md.MessageDigest) => ForgeBytes;

const V = 64; // SHA-1 block length
const U = 20; // SHA-1 digest length

/** RFC 7292 B.2 with SHA-1. */
export function pkcs12KeySha1(password: string | null | undefined, salt: Buffer, id: number, iter: number, n: number): Buffer {
  if (!(iter >= 1)) throw new Error('PKCS#12 key derivation iteration count must be >= 1.');
  // The password as a BMPString (UTF-16 big-endian) with a two-byte terminator; none at all when absent.
  const pass = Buffer.alloc(password == null ? 0 : (password.length + 1) * 2);
  if (password != null) for (let i = 0; i < password.length; i++) pass.writeUInt16BE(password.charCodeAt(i), i * 2);
  const repeat = (b: Buffer) => {
    const out = Buffer.alloc(V * Math.ceil(b.length / V));
    for (let i = 0; i < out.length; i++) out[i] = b[i % b.length];
    return out;
  };
  const D = Buffer.alloc(V, id);
  const I = Buffer.concat([repeat(salt), repeat(pass)]);
  const blocks: Buffer[] = [];
  for (let i = 0, c = Math.ceil(n / U); i < c; i++) {
    let A = createHash('sha1').update(D).update(I).digest();
    for (let r = 1; r < iter; r++) A = createHash('sha1').update(A).digest();
    blocks.push(A);
    // I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block, B being A repeated to v bytes
    for (let j = 0; j < I.length; j += V) {
      let x = 1;
      for (let l = V - 1; l >= 0; l--) {
        x += A[l % U] + I[j + l];
        I[j + l] = x & 0xff;
        x >>= 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, n);
}

// forge's typings do not declare pki.pbe
const pbe = (forge.pki as unknown as { pbe: { generatePkcs12Key: Kdf } }).pbe;
const forgeKdf: Kdf = pbe.generatePkcs12Key;

const nativeKdf: Kdf = (password, salt, id, iter, n, md) => {
  if (md && md.algorithm !== 'sha1') return forgeKdf(password, salt, id, iter, n, md);
  const s = Buffer.from(typeof salt === 'string' ? salt : salt.bytes(), 'binary');
  return forge.util.createBuffer(pkcs12KeySha1(password, s, id, iter, n).toString('binary'));
};

/** forge's own derivation, for the comparison test. */
export const forgePkcs12Key = forgeKdf;

let installed = false;

/** Use the native derivation for every PFX forge writes or reads in this process (idempotent). */
export function installNativePkcs12Kdf(): void {
  if (installed) return;
  installed = true;
  pbe.generatePkcs12Key = nativeKdf;
  // pkcs12.js keeps its own reference for the MAC key
  (forge.pkcs12 as unknown as { generateKey: Kdf }).generateKey = nativeKdf;
}
