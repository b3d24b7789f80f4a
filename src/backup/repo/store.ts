// Object stores under a format 2 repository: a folder, Azure Blob Storage or S3. Only five verbs, so the repository
// logic (repository.ts) is the same for all three and each store is a thin shim over its SDK. The SDKs are imported
// only when a store of that kind is opened (start-up does not pay for them).
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { InputError } from '../../runbook/errors.js';
import { writeFileAtomic } from '../../runbook/fsutil.js';

export interface StoredObject {
  key: string;
  size: number;
}

/** What a store counts, for --json and the benchmark (and the resume test). */
export interface StoreStats {
  requests: Record<string, number>;
  bytesSent: number;
}

/** One part of an unfinished multipart upload, as the store acknowledged it (tag: S3's ETag, Azure's block id). */
export interface StoredPart {
  n: number;
  bytes: number;
  md5: string;
  tag: string;
}

/** What a resumable upload keeps between runs: the store's upload id (S3) and the parts it acknowledged. */
export interface PartState {
  uploadId?: string;
  parts: StoredPart[];
}

/** Where a store keeps the PartState of each unfinished object, so a resumed run sends only the parts it lacks. */
export interface PartJournal {
  load(key: string): PartState | null;
  save(key: string, state: PartState): void;
  drop(key: string): void;
}

/** The store no longer has the parts a journal names (the upload was aborted or its blocks expired): start over. */
export class StaleUploadError extends Error {}

export interface PutOptions {
  /** Record each part as the store acknowledges it, and skip the parts a killed run already sent. */
  journal?: PartJournal;
}

export interface ObjectStore {
  /** For messages: the URL of the repository. */
  readonly where: string;
  readonly stats: StoreStats;
  put(key: string, body: Buffer | Readable, opts?: PutOptions): Promise<void>;
  /** The object's bytes, or null when it does not exist. */
  get(key: string): Promise<Readable | null>;
  list(prefix: string): Promise<StoredObject[]>;
  /** Throws RetentionLockedError when the store refuses (immutability policy, Object Lock). */
  delete(key: string): Promise<void>;
}

/** The store refused to delete an object it keeps under a retention lock (HTTP 403/409 on delete). */
export class RetentionLockedError extends Error {}

export type RepoUrl =
  | { kind: 'folder'; dir: string; url: string }
  | { kind: 'azure'; account: string; container: string; prefix: string; url: string }
  | { kind: 's3'; bucket: string; prefix: string; url: string; endpoint?: string; region?: string; pathStyle?: boolean };

/** True for azure:// and s3:// URLs (anything else is a folder). */
export function isRemoteUrl(s: string): boolean {
  return /^(azure|s3):\/\//i.test(s);
}

/** Parse --to. Remote settings that are not secrets may be in the URL's query (endpoint, region, path-style). */
export function parseRepoUrl(s: string): RepoUrl {
  if (!isRemoteUrl(s)) return { kind: 'folder', dir: path.resolve(s), url: path.resolve(s) };
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new InputError(`${s} is not a repository URL`, 'use azure://<account>/<container>/<prefix> or s3://<bucket>/<prefix>');
  }
  if (u.username || u.password) throw new InputError(`${u.protocol}//… carries credentials in the URL`, 'credentials come only from the environment or the SDK\'s default chain, never from arguments');
  // Only settings in the query: a SAS token or a presigned URL's signature there would be a credential in argv.
  const allowed = u.protocol === 's3:' ? ['endpoint', 'region', 'path-style'] : [];
  for (const k of u.searchParams.keys()) {
    if (!allowed.includes(k)) throw new InputError(`${u.protocol}//${u.host}${u.pathname}: "${k}" is not a repository URL setting${allowed.length ? ` (known: ${allowed.join(', ')})` : ''}`, 'credentials (SAS tokens, signatures, keys) come only from the environment, never from arguments or the site file');
  }
  const parts = decodeURIComponent(u.pathname).split('/').filter(Boolean);
  const clean = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  if (u.protocol === 'azure:') {
    if (!u.host || !parts[0]) throw new InputError(`${s} names no container`, 'use azure://<account>/<container>/<prefix>');
    if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(parts[0])) throw new InputError(`${parts[0]} is not a valid Azure container name`, 'container names are 3-63 lower-case letters, digits and single hyphens');
    return { kind: 'azure', account: u.host, container: parts[0], prefix: parts.slice(1).join('/'), url: clean };
  }
  if (!u.host) throw new InputError(`${s} names no bucket`, 'use s3://<bucket>/<prefix>');
  const q = u.searchParams;
  const endpoint = q.get('endpoint') ?? process.env.QSADMIN_S3_ENDPOINT ?? undefined;
  const ps = q.get('path-style') ?? process.env.QSADMIN_S3_PATH_STYLE;
  return { kind: 's3', bucket: u.host, prefix: parts.join('/'), url: clean, endpoint, region: q.get('region') ?? undefined, pathStyle: ps ? ps === '1' || ps === 'true' : !!endpoint };
}

export async function openStore(u: RepoUrl): Promise<ObjectStore> {
  if (u.kind === 'folder') return new FolderStore(u.dir);
  if (u.kind === 'azure') return (await import('./azure-store.js')).openAzureStore(u);
  return (await import('./s3-store.js')).openS3Store(u);
}

/** A pass-through that counts bytes. */
export function counter(): Transform & { bytes: number } {
  const t = new Transform({
    transform(c: Buffer, _e, cb) {
      t.bytes += c.length;
      cb(null, c);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

/**
 * Cut a stream into parts of exactly `size` bytes (the last may be shorter; an empty stream is one empty part), so
 * the same bytes always give the same parts: what lets a resumed upload match the parts it sent before.
 */
export async function* cutParts(body: Readable, size: number): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let heldLen = 0;
  let any = false;
  for await (const c of body as AsyncIterable<Buffer>) {
    held.push(c);
    heldLen += c.length;
    while (heldLen >= size) {
      const all = held.length === 1 ? held[0] : Buffer.concat(held);
      // Copied out: the part outlives this chunk (it is in flight while the next ones are read).
      yield Buffer.from(all.subarray(0, size));
      any = true;
      held = heldLen > size ? [all.subarray(size)] : [];
      heldLen -= size;
    }
  }
  if (heldLen || !any) yield Buffer.concat(held);
}

/**
 * Run fn over the parts of a stream with at most `limit` in flight (memory: limit + 1 parts). After a failure no new
 * part starts and the error is thrown once the parts in flight settled (none goes on after the call returned).
 */
export async function eachPart(parts: AsyncIterable<Buffer>, limit: number, fn: (part: Buffer, n: number) => Promise<void>): Promise<number> {
  const inFlight = new Set<Promise<void>>();
  let error: unknown;
  let n = 0;
  for await (const part of parts) {
    if (error !== undefined) break;
    const job: Promise<void> = fn(part, ++n)
      .catch((e) => void (error ??= e))
      .finally(() => inFlight.delete(job));
    inFlight.add(job);
    if (inFlight.size >= limit) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (error !== undefined) throw error;
  return n;
}

/** The hex MD5 of a part: how a resumed upload knows a part it sent before holds the same bytes. */
export const partMd5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** PartJournal in a local folder: one small JSON file per object key, written atomically and fsync'd. */
export class FolderPartJournal implements PartJournal {
  constructor(readonly dir: string) {}
  private file(key: string): string {
    return path.join(this.dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  }
  load(key: string): PartState | null {
    try {
      const s = JSON.parse(fs.readFileSync(this.file(key), 'utf8')) as PartState & { key?: string };
      return s.key === key && Array.isArray(s.parts) ? { uploadId: s.uploadId, parts: s.parts } : null;
    } catch {
      return null; // none, or torn by a kill before its rename: the object starts over
    }
  }
  save(key: string, state: PartState): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file(key), JSON.stringify({ key, ...state }));
  }
  drop(key: string): void {
    fs.rmSync(this.file(key), { force: true });
  }
}

/** Join a repository prefix and a key. */
export const under = (prefix: string, key: string) => (prefix ? `${prefix}/${key}` : key);

/** Read a stream whole (small objects only: config, manifests, records). */
export async function readAll(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

/** A folder as an object store: keys are relative paths; writes go to a temp name and are renamed (atomic). */
export class FolderStore implements ObjectStore {
  readonly stats: StoreStats = { requests: {}, bytesSent: 0 };
  constructor(readonly where: string) {}
  private file(key: string): string {
    return path.join(this.where, ...key.split('/'));
  }
  private count(verb: string) {
    this.stats.requests[verb] = (this.stats.requests[verb] ?? 0) + 1;
  }
  async put(key: string, body: Buffer | Readable): Promise<void> {
    this.count('put');
    const f = this.file(key);
    fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
    const tmp = `${f}.${process.pid}.tmp`;
    const src = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    const n = counter();
    await pipeline(src, n, fs.createWriteStream(tmp, { mode: 0o600 }));
    const h = await fs.promises.open(tmp, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
    fs.renameSync(tmp, f);
    this.stats.bytesSent += n.bytes;
  }
  async get(key: string): Promise<Readable | null> {
    this.count('get');
    const f = this.file(key);
    return fs.existsSync(f) ? fs.createReadStream(f, { highWaterMark: 1 << 20 }) : null;
  }
  async list(prefix: string): Promise<StoredObject[]> {
    this.count('list');
    const out: StoredObject[] = [];
    const base = this.file(prefix);
    const walk = (dir: string, rel: string) => {
      if (!fs.existsSync(dir)) return;
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(path.join(dir, e.name), r);
        else if (e.isFile() && !e.name.endsWith('.tmp')) out.push({ key: prefix ? `${prefix}/${r}` : r, size: fs.statSync(path.join(dir, e.name)).size });
      }
    };
    walk(base, '');
    return out;
  }
  async delete(key: string): Promise<void> {
    this.count('delete');
    fs.rmSync(this.file(key), { force: true });
  }
}
