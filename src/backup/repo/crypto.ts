// Client-side encryption of a format 2 repository (README "Repositories and encryption").
//
// Keys: one random 64-byte repository key (32 bytes for AES-256-GCM key derivation, 32 for the HMAC of object
// names), stored in the repository's config object wrapped (AES-256-GCM) under a key that scrypt derives from the
// passphrase. Rotating the passphrase re-wraps the same key: no object is rewritten. Losing the passphrase loses
// the repository: there is no other copy of the key and no back door.
//
// Objects: header "QSE1" + a 16-byte salt (random; for content-addressed objects derived from the name, objectSalt), then chunks of up to CHUNK plain bytes, each AES-256-GCM under a
// per-object key HKDF(repository key, salt, "qsadmin object " + object name) with the chunk's index as nonce and its
// "last chunk" flag as additional data. So a flipped byte fails the chunk's tag, reordered chunks fail (wrong nonce),
// a truncated object fails (no last chunk, or a short one), and two swapped objects fail (each key binds its name).
// The last chunk is padded (0x80, then zeros) so stored sizes are multiples of PAD: sizes leak only to that grain.
// Random access: chunk i starts at HEADER + i × (CHUNK + 16), so a reader can decrypt any chunk alone.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scrypt as scryptCb, timingSafeEqual, createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { InputError, VerificationError } from '../../runbook/errors.js';

export const CHUNK = 1 << 20;
export const PAD = 4096;
const TAG = 16;
const MAGIC = Buffer.from('QSE1');
export const HEADER = MAGIC.length + 16;

/** scrypt's cost: N=2^15, r=8 needs 32 MiB, Node's default maxmem, which it rejects: maxmem is set above it. */
export const SCRYPT = { N: 1 << 15, r: 8, p: 1 };
const MAXMEM = 256 * 1024 * 1024;

export interface WrappedKey {
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  /** iv (12) + ciphertext (64) + tag (16), base64. */
  wrapped: string;
}

export interface RepoKeys {
  enc: Buffer;
  mac: Buffer;
}

function scrypt(pass: string, salt: Buffer, p: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((res, rej) => scryptCb(pass, salt, 32, { ...p, maxmem: MAXMEM }, (e, k) => (e ? rej(e) : res(k))));
}

/** A new repository key, wrapped under the passphrase. */
export async function newWrappedKey(passphrase: string, params = SCRYPT): Promise<{ wrapped: WrappedKey; keys: RepoKeys }> {
  const raw = randomBytes(64);
  return { wrapped: await wrapKey(raw, passphrase, params), keys: { enc: raw.subarray(0, 32), mac: raw.subarray(32) } };
}

async function wrapKey(raw: Buffer, passphrase: string, params: { N: number; r: number; p: number }): Promise<WrappedKey> {
  const salt = randomBytes(16);
  const kek = await scrypt(passphrase, salt, params);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, iv);
  c.setAAD(Buffer.from('qsadmin repository key'));
  const ct = Buffer.concat([c.update(raw), c.final()]);
  return { kdf: 'scrypt', ...params, salt: salt.toString('base64'), wrapped: Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64') };
}

async function unwrapRaw(w: WrappedKey, passphrase: string, envName: string): Promise<Buffer> {
  const kek = await scrypt(passphrase, Buffer.from(w.salt, 'base64'), { N: w.N, r: w.r, p: w.p });
  const b = Buffer.from(w.wrapped, 'base64');
  const d = createDecipheriv('aes-256-gcm', kek, b.subarray(0, 12));
  d.setAAD(Buffer.from('qsadmin repository key'));
  d.setAuthTag(b.subarray(b.length - TAG));
  try {
    return Buffer.concat([d.update(b.subarray(12, b.length - TAG)), d.final()]);
  } catch {
    throw new InputError(`the passphrase in ${envName} does not open this repository's key (wrong passphrase)`, `set ${envName} to the repository's passphrase; without it the repository cannot be read (there is no other copy of its key)`);
  }
}

/** The repository keys from the passphrase: a wrong one is bad input (exit 2) before any object is read. */
export async function unwrapKey(w: WrappedKey, passphrase: string, envName: string): Promise<RepoKeys> {
  const raw = await unwrapRaw(w, passphrase, envName);
  return { enc: raw.subarray(0, 32), mac: raw.subarray(32) };
}

/** Key rotation: the same repository key under a new passphrase (no object changes). */
export async function rewrapKey(w: WrappedKey, oldPass: string, newPass: string, oldEnv: string): Promise<WrappedKey> {
  return wrapKey(await unwrapRaw(w, oldPass, oldEnv), newPass, { N: w.N, r: w.r, p: w.p });
}

/** The store's name for content with this sha256: an HMAC under the repository key (a plain hash would confirm a known file). */
export function objectName(sha256: string, keys: RepoKeys | null): string {
  return keys ? createHmac('sha256', keys.mac).update(sha256).digest('hex') : sha256;
}

function objectKey(keys: RepoKeys, salt: Buffer, name: string): Buffer {
  return Buffer.from(hkdfSync('sha256', keys.enc, salt, `qsadmin object ${name}`, 32));
}

function nonce(i: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(Math.floor(i / 2 ** 32), 4);
  n.writeUInt32BE(i >>> 0, 8);
  return n;
}

function sealChunk(key: Buffer, i: number, last: boolean, plain: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce(i));
  c.setAAD(Buffer.from([last ? 1 : 0]));
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

function openChunk(key: Buffer, i: number, last: boolean, sealed: Buffer): Buffer | null {
  if (sealed.length < TAG) return null;
  const d = createDecipheriv('aes-256-gcm', key, nonce(i));
  d.setAAD(Buffer.from([last ? 1 : 0]));
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
  } catch {
    return null;
  }
}

/**
 * The end of an object's plain stream: the rest of the data, 0x80, then the fewest zeros that make the stored size a
 * multiple of PAD, cut into chunks of CHUNK (the padding may spill into one more chunk).
 */
function paddedTail(rest: Buffer, storedSoFar: number): Buffer[] {
  const t = tailLength(rest.length, storedSoFar);
  const tail = Buffer.alloc(t);
  rest.copy(tail);
  tail[rest.length] = 0x80;
  const out: Buffer[] = [];
  for (let o = 0; o < t; o += CHUNK) out.push(tail.subarray(o, Math.min(t, o + CHUNK)));
  return out;
}

/** The plain length of the padded tail (rest, 0x80, zeros) that makes the stored size a multiple of PAD. */
function tailLength(restLen: number, storedSoFar: number): number {
  for (let t = restLen + 1; ; t++) if ((storedSoFar + t + TAG * Math.ceil(t / CHUNK)) % PAD === 0) return t;
}

/**
 * The stored size of an object of `plainBytes` (what encryptStream writes): a resumed upload takes an object in the
 * store as present only at this size, so an upload cut off mid-body (a store that shows it) is sent again.
 */
export function sealedSize(plainBytes: number): number {
  // encryptStream seals full chunks while more than CHUNK bytes are pending, so the tail holds 1..CHUNK bytes (or 0).
  const full = plainBytes > 0 ? Math.floor((plainBytes - 1) / CHUNK) : 0;
  const stored = HEADER + full * (CHUNK + TAG);
  const t = tailLength(plainBytes - full * CHUNK, stored);
  return stored + t + TAG * Math.ceil(t / CHUNK);
}

/**
 * The salt of a content-addressed object: derived from its name, so encrypting the same content again gives the same
 * bytes, and a resumed multipart upload can send only the parts it lacks (the parts already stored still match).
 * Safe because the name is an HMAC of the content: one object key and nonce sequence only ever seals one plain text.
 * Objects whose name does not bind their content (manifests, records) keep a random salt.
 */
export function objectSalt(keys: RepoKeys, name: string): Buffer {
  return createHmac('sha256', keys.mac).update(`qsadmin object salt ${name}`).digest().subarray(0, 16);
}

/** Strip the padding: trailing zeros, then the 0x80 marker. */
function unpad(b: Buffer): Buffer | null {
  let i = b.length - 1;
  while (i >= 0 && b[i] === 0) i--;
  return i >= 0 && b[i] === 0x80 ? b.subarray(0, i) : null;
}

/** Encrypting stream for one object (a random salt unless the object is content-addressed: objectSalt). */
export function encryptStream(keys: RepoKeys, name: string, salt: Buffer = randomBytes(16)): Transform {
  const key = objectKey(keys, salt, name);
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let index = 0;
  let stored = HEADER;
  let started = false;
  const take = (n: number) => {
    const all = Buffer.concat(pending);
    pending = [all.subarray(n)];
    pendingLen = all.length - n;
    return all.subarray(0, n);
  };
  const header = (t: Transform) => {
    if (!started) t.push(Buffer.concat([MAGIC, salt]));
    started = true;
  };
  return new Transform({
    transform(chunk: Buffer, _e, cb: TransformCallback) {
      header(this);
      pending.push(Buffer.from(chunk));
      pendingLen += chunk.length;
      // Keep at least one byte back: the last chunk is only known at the end.
      while (pendingLen > CHUNK) {
        const out = sealChunk(key, index++, false, take(CHUNK));
        stored += out.length;
        this.push(out);
      }
      cb();
    },
    flush(cb: TransformCallback) {
      header(this);
      const pieces = paddedTail(take(pendingLen), stored);
      pieces.forEach((p, i) => this.push(sealChunk(key, index++, i === pieces.length - 1, p)));
      cb();
    },
  });
}

/** Decrypting stream for one object; any damage is a VerificationError (exit 4) naming `label`. */
export function decryptStream(keys: RepoKeys, name: string, label: string): Transform {
  let buf: Buffer = Buffer.alloc(0);
  let key: Buffer | null = null;
  let index = 0;
  // The previous chunk's plain bytes are held back: the padding marker may sit in the chunk before the last.
  let held: Buffer | null = null;
  const fail = (why: string) => new VerificationError(`${label}: ${why}`, 'the object was changed or damaged in the repository: use another set (qsadmin backup list)');
  const SEALED = CHUNK + TAG;
  return new Transform({
    transform(chunk: Buffer, _e, cb: TransformCallback) {
      // Copied: a producer may reuse its chunk's memory once the callback ran (bytes are kept across calls here).
      buf = Buffer.concat([buf, chunk]);
      if (!key) {
        if (buf.length < HEADER) return cb();
        if (!buf.subarray(0, 4).equals(MAGIC)) return cb(fail('not an encrypted qsadmin object (bad header)'));
        key = objectKey(keys, buf.subarray(4, HEADER), name);
        buf = buf.subarray(HEADER);
      }
      // Middle chunks are exactly SEALED bytes; the last is at most that, so more bytes after one mean it is a middle one.
      while (buf.length > SEALED) {
        const plain = openChunk(key, index, false, buf.subarray(0, SEALED));
        if (!plain) return cb(fail(`chunk ${index} fails authentication (changed, reordered or from another object)`));
        index++;
        buf = buf.subarray(SEALED);
        if (held) this.push(held);
        held = plain;
      }
      cb();
    },
    flush(cb: TransformCallback) {
      if (!key) return cb(fail('truncated (no header)'));
      const plain = openChunk(key, index, true, buf);
      if (!plain) return cb(fail(`chunk ${index} fails authentication as the last chunk (truncated, changed, reordered or from another object)`));
      const data = unpad(held ? Buffer.concat([held, plain]) : plain);
      if (!data) return cb(fail('bad padding in its last chunk'));
      this.push(data);
      cb();
    },
  });
}

/** Encrypt or decrypt a small object (manifest, verification record) in memory. */
export async function sealBuffer(keys: RepoKeys, name: string, plain: Buffer, salt?: Buffer): Promise<Buffer> {
  return collect(encryptStream(keys, name, salt), plain);
}
export async function openBuffer(keys: RepoKeys, name: string, sealed: Buffer, label: string): Promise<Buffer> {
  return collect(decryptStream(keys, name, label), sealed);
}

function collect(t: Transform, input: Buffer): Promise<Buffer> {
  return new Promise((res, rej) => {
    const out: Buffer[] = [];
    t.on('data', (c: Buffer) => out.push(c));
    t.on('end', () => res(Buffer.concat(out)));
    t.on('error', rej);
    t.end(input);
  });
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export const sha256hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
