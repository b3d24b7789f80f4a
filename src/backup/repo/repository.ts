// A format 2 repository: content-addressed objects referenced by each set's manifest, on an object store (folder,
// Azure Blob, S3), optionally encrypted (crypto.ts). Layout under the repository's root or prefix:
//
//   qsadmin-repository.json     format, id, encryption parameters and the wrapped key (the only object ever replaced:
//                               by a passphrase change)
//   objects/<aa>/<name>         one object per distinct file content; name = sha256 of the plain bytes, or its HMAC
//                               under the repository key when encrypted
//   sets/<id>/started           written first: a set without a manifest is incomplete
//   sets/<id>/manifest          written last (format 2: the format 1 manifest plus each file's object name)
//   sets/<id>/verified/<time>   one object per verification (a set's objects are never rewritten)
//   locks/<kind>-<uuid>         shared (backup upload) or exclusive (prune, delete)
//
// Every set is restorable alone: its manifest names every object it needs; prune deletes an object only when no kept
// set names it, under the exclusive lock, so it never deletes what a running backup (shared lock) just reused.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InputError, LockedError, VerificationError } from '../../runbook/errors.js';
import { faultPoint } from '../../runbook/fault.js';
import { pidAlive } from '../../runbook/lock.js';
import { hashingTap, mapLimit } from '../hashcopy.js';
import { readManifest, type Manifest, type ManifestFile, type VerifyRecord } from '../manifest.js';
import { manifestPathProblems } from '../manifest-check.js';
import { applyRetention, type RetentionDecision, type RetentionPolicy } from '../retention.js';
import type { BackupSetInfo } from '../sets.js';
import { decryptStream, encryptStream, newWrappedKey, objectName, objectSalt, openBuffer, rewrapKey, sealBuffer, sealedSize, unwrapKey, type RepoKeys, type WrappedKey } from './crypto.js';
import { RetentionLockedError, StaleUploadError, openStore, parseRepoUrl, readAll, type ObjectStore, type PartJournal } from './store.js';

export const CONFIG = 'qsadmin-repository.json';
export const FORMAT2 = 2;
export const DEFAULT_PASSPHRASE_ENV = 'QSADMIN_REPO_PASSPHRASE';
/** A lock older than this is a leftover of a killed process and ignored. */
const LOCK_STALE_MS = 24 * 3600_000;

export interface RepoConfig {
  format: 2;
  id: string;
  created: string;
  encryption: null | { cipher: 'aes-256-gcm'; chunkBytes: number; padBytes: number; key: WrappedKey };
}

/** A format 2 manifest: the format 1 fields, and each file's object. */
export type Manifest2 = Omit<Manifest, 'files'> & { files: Array<ManifestFile & { object: string }> };

export interface RepoOpenOptions {
  /** Environment variable with the passphrase (default QSADMIN_REPO_PASSPHRASE). */
  passphraseEnv?: string;
  /** Create the repository when it has no config: encrypted unless false. */
  create?: { encrypt: boolean };
}

export interface UploadStats {
  objects: number;
  objectsSent: number;
  objectsPresent: number;
  bytesSent: number;
  requests: Record<string, number>;
}

const objKey = (name: string) => `objects/${name.slice(0, 2)}/${name}`;
const setKey = (id: string, what: string) => `sets/${id}/${what}`;

/** True when a folder holds a format 2 repository. */
export function isFolderRepository(dir: string): boolean {
  return fs.existsSync(path.join(dir, CONFIG));
}

/** The store did not answer (network, endpoint, credentials, a missing bucket or container): bad input at plan time. */
export class UnreachableError extends InputError {}

export class Repository {
  private constructor(
    readonly store: ObjectStore,
    readonly config: RepoConfig,
    private keys: RepoKeys | null,
  ) {}

  get url(): string {
    return this.store.where;
  }
  get encrypted(): boolean {
    return !!this.keys;
  }

  /** Open (or with opts.create, create) the repository at a URL or folder. A wrong passphrase is exit 2 here, before any set is read. */
  static async open(url: string, opts: RepoOpenOptions = {}): Promise<Repository> {
    const store = await openStore(parseRepoUrl(url));
    const envName = opts.passphraseEnv ?? DEFAULT_PASSPHRASE_ENV;
    const raw = await store.get(CONFIG).catch((e) => {
      throw new UnreachableError(`cannot reach the repository ${store.where}: ${(e as Error).message}`, 'check the URL, the endpoint and the credentials in the environment');
    });
    if (!raw) {
      if (!opts.create) throw new InputError(`${store.where} is not a qsadmin repository (no ${CONFIG})`, 'back up into it first (qsadmin backup create --to <url>), or check the URL');
      let keys: RepoKeys | null = null;
      let encryption: RepoConfig['encryption'] = null;
      if (opts.create.encrypt) {
        const pass = passphrase(envName);
        const k = await newWrappedKey(pass);
        keys = k.keys;
        encryption = { cipher: 'aes-256-gcm', chunkBytes: 1 << 20, padBytes: 4096, key: k.wrapped };
      }
      const config: RepoConfig = { format: FORMAT2, id: randomUUID(), created: new Date().toISOString(), encryption };
      await store.put(CONFIG, Buffer.from(JSON.stringify(config, null, 1) + '\n')).catch((e) => {
        throw new UnreachableError(`cannot create the repository ${store.where}: ${(e as Error).message}`, 'check the URL (does the bucket or container exist?), the endpoint and the credentials in the environment');
      });
      return new Repository(store, config, keys);
    }
    let config: RepoConfig;
    try {
      config = JSON.parse((await readAll(raw)).toString('utf8')) as RepoConfig;
    } catch (e) {
      throw new VerificationError(`${store.where}/${CONFIG} is damaged: ${(e as Error).message}`, 'restore it from a copy: without it (and the passphrase) the repository cannot be read');
    }
    if (config.format !== FORMAT2) throw new InputError(`${store.where} is a repository of format ${config.format}; this qsadmin reads format ${FORMAT2}`, 'use a qsadmin that reads it');
    const keys = config.encryption ? await unwrapKey(config.encryption.key, passphrase(envName), envName) : null;
    return new Repository(store, config, keys);
  }

  /** Passphrase change: the same key re-wrapped under the new passphrase; no object is rewritten. */
  async rekey(oldEnv: string, newEnv: string): Promise<void> {
    if (!this.config.encryption) throw new InputError(`${this.url} is not encrypted`, 'there is no key to re-wrap');
    const key = await rewrapKey(this.config.encryption.key, passphrase(oldEnv), passphrase(newEnv), oldEnv);
    const config: RepoConfig = { ...this.config, encryption: { ...this.config.encryption, key } };
    await this.store.put(CONFIG, Buffer.from(JSON.stringify(config, null, 1) + '\n'));
  }

  private async writeSmall(key: string, value: unknown): Promise<void> {
    const plain = Buffer.from(JSON.stringify(value) + '\n');
    await this.store.put(key, this.keys ? await sealBuffer(this.keys, key, plain) : plain);
  }

  private async readSmall<T>(key: string): Promise<T | null> {
    const r = await this.store.get(key);
    if (!r) return null;
    const raw = await readAll(r);
    const plain = this.keys ? await openBuffer(this.keys, key, raw, `${this.url}/${key}`) : raw;
    try {
      return JSON.parse(plain.toString('utf8')) as T;
    } catch (e) {
      throw new VerificationError(`${this.url}/${key} is damaged: ${(e as Error).message}`, 'use another set (qsadmin backup list)');
    }
  }

  /** Every set, newest first, in the shape `backup list` prints for folders. */
  async listSets(): Promise<BackupSetInfo[]> {
    const byId = new Map<string, { manifest: boolean; started: boolean; verified: string[] }>();
    for (const o of await this.store.list('sets')) {
      const [, id, what, rest] = o.key.split('/');
      if (!id) continue;
      const e = byId.get(id) ?? { manifest: false, started: false, verified: [] };
      if (what === 'manifest') e.manifest = true;
      else if (what === 'started') e.started = true;
      else if (what === 'verified' && rest) e.verified.push(rest);
      byId.set(id, e);
    }
    const out = await mapLimit([...byId.entries()], 4, async ([id, e]): Promise<BackupSetInfo> => {
      let m: Manifest2 | null = null;
      let damaged: string | undefined;
      if (e.manifest) {
        try {
          m = await this.manifest(id);
        } catch (err) {
          damaged = (err as Error).message;
        }
      }
      const newest = e.verified.sort().at(-1);
      const verified = newest ? await this.readSmall<VerifyRecord>(setKey(id, `verified/${newest}`)).catch(() => null) : null;
      return {
        id,
        dir: `${this.url}#${id}`,
        created: m?.created ?? idDate(id),
        complete: !!m,
        damaged,
        verified,
        bytes: m?.totals.bytes ?? 0,
        writtenBytes: m?.totals.writtenBytes ?? 0,
        files: m?.totals.files ?? 0,
        base: m?.base ?? null,
        single: false,
      };
    });
    return out.sort((a, b) => b.created.localeCompare(a.created) || b.id.localeCompare(a.id));
  }

  async manifest(id: string): Promise<Manifest2> {
    const m = await this.readSmall<Manifest2>(setKey(id, 'manifest'));
    if (!m) {
      const started = await this.store.get(setKey(id, 'started'));
      if (started) throw new InputError(`${this.url}#${id} is an incomplete backup set (no manifest: its upload did not finish)`, 'resume the backup run (qsadmin runs resume), or pick another set (qsadmin backup list)');
      throw new InputError(`no backup set ${id} in ${this.url}`, 'see the ids with qsadmin backup list --to <url>');
    }
    if (!Array.isArray(m.files) || m.format !== FORMAT2) throw new VerificationError(`${this.url}#${id}: its manifest is not a format ${FORMAT2} manifest`, 'use another set (qsadmin backup list)');
    const bad = manifestPathProblems(m as unknown as Manifest);
    if (bad.length) throw new VerificationError(`${this.url}#${id} is refused: ${bad.slice(0, 3).join('; ')}`, 'the set was altered: use another set');
    return m;
  }

  /** Take a lock; a conflicting live lock is exit 3. Returns the release. */
  async lock(kind: 'shared' | 'exclusive', what: string): Promise<() => Promise<void>> {
    const key = `locks/${kind}-${randomUUID()}`;
    await this.store.put(key, Buffer.from(JSON.stringify({ kind, what, at: new Date().toISOString(), host: os.hostname(), pid: process.pid })));
    const release = () => this.store.delete(key).catch(() => undefined);
    // Written first, then looked for others: of two racing runs at least one sees the other (read-after-write).
    const others = (await this.store.list('locks')).filter((o) => o.key !== key);
    for (const o of others) {
      const name = o.key.split('/')[1] ?? '';
      if (kind === 'shared' && !name.startsWith('exclusive-')) continue;
      const info = await this.store.get(o.key).then((r) => (r ? readAll(r) : null)).then((b) => (b ? (JSON.parse(b.toString()) as { at: string; what: string; host: string; pid: number }) : null)).catch(() => null);
      if (!info || Date.now() - Date.parse(info.at) > LOCK_STALE_MS) continue;
      // Left by a process of this host that is gone (killed mid-upload): not a lock any more, and removed.
      if (info.host === os.hostname() && !pidAlive(info.pid)) {
        await this.store.delete(o.key).catch(() => undefined);
        continue;
      }
      await release();
      throw new LockedError(`${this.url} is locked: ${info.what} on ${info.host} (pid ${info.pid}) since ${info.at}`, kind === 'shared' ? 'wait for the prune to finish, then resume the backup run' : 'wait for the running backup to finish, then prune');
    }
    return release;
  }

  /**
   * Upload a complete local (format 1) set: every file as a content-addressed object unless the repository has it
   * already (an incremental sends only new content; a resumed upload only what is missing), the manifest last.
   * With a journal (a folder beside the staged set), a large object cut off by a kill goes on from its last part.
   */
  async uploadSet(setDir: string, opts: { parallel?: number; onProgress?: (msg: string) => void; log?: (msg: string) => void; journal?: PartJournal } = {}): Promise<UploadStats> {
    const local = readManifest(setDir);
    if (!local) throw new Error(`${setDir} has no manifest: only a complete set is uploaded`);
    const stats: UploadStats = { objects: 0, objectsSent: 0, objectsPresent: 0, bytesSent: 0, requests: this.store.stats.requests };
    if (await this.store.get(setKey(local.id, 'manifest')).then((r) => (r?.destroy(), !!r))) return stats;
    const release = await this.lock('shared', `backup ${local.id}`);
    try {
      await this.writeSmall(setKey(local.id, 'started'), { id: local.id, created: local.created });
      // What the store holds, with its size: an object counts as present only at the size its content gives, since
      // a store may show an object whose upload was cut off mid-body (s3rver writes a PUT's body under its final name).
      const present = new Map((await this.store.list('objects')).map((o) => [o.key.split('/').pop()!, o.size]));
      const files = local.files.map((f) => ({ ...f, object: objectName(f.sha256, this.keys) }));
      const unique = [...new Map(files.map((f) => [f.object, f])).values()];
      stats.objects = unique.length;
      const sentBefore = this.store.stats.bytesSent;
      let sent = 0;
      await mapLimit(unique, opts.parallel ?? 4, async (f) => {
        const want = this.keys ? sealedSize(f.bytes) : f.bytes;
        const have = present.get(f.object);
        if (have === want) {
          stats.objectsPresent++;
          return;
        }
        if (have !== undefined) opts.log?.(`${f.path}: object ${f.object} is ${have} bytes in ${this.url}, its content makes ${want}: an upload cut off part-way, sent again`);
        try {
          await this.putFile(setDir, f, opts.journal);
        } catch (e) {
          if (!(e instanceof StaleUploadError)) throw e;
          opts.log?.(`${e.message}: its upload starts over`);
          opts.journal?.drop(objKey(f.object));
          await this.putFile(setDir, f, opts.journal);
        }
        stats.objectsSent++;
        faultPoint(`repo.upload:object-${++sent}`);
        opts.onProgress?.(`${stats.objectsSent + stats.objectsPresent}/${unique.length} objects`);
      });
      stats.bytesSent = this.store.stats.bytesSent - sentBefore;
      const m: Manifest2 = { ...local, format: FORMAT2, files };
      await this.writeSmall(setKey(local.id, 'manifest'), m);
      return stats;
    } finally {
      await release();
    }
  }

  /** Send one file of a staged set as its object (encrypted when the repository is); its sha256 checked as it goes. */
  private async putFile(setDir: string, f: ManifestFile & { object: string }, journal?: PartJournal): Promise<void> {
    const tap = hashingTap();
    const src = fs.createReadStream(path.join(setDir, ...f.path.split('/')), { highWaterMark: 1 << 20 });
    const body: Readable = this.keys ? src.pipe(tap).pipe(encryptStream(this.keys, f.object, objectSalt(this.keys, f.object))) : src.pipe(tap);
    src.on('error', (e) => body.destroy(e));
    await this.store.put(objKey(f.object), body, { journal });
    const w = tap.result();
    // The bytes sent are the bytes the manifest describes (a file changed in the staging set would not be).
    if (w.sha256 !== f.sha256) {
      await this.store.delete(objKey(f.object)).catch(() => undefined);
      throw new VerificationError(`${f.path}: sha256 ${w.sha256} while uploading, the manifest says ${f.sha256}`, 'the staging copy changed: run the backup again');
    }
  }

  /** The plain bytes of one file of a set (decrypted; damage is exit 4 naming the object). */
  async readFile(f: ManifestFile & { object: string }): Promise<Readable> {
    const r = await this.store.get(objKey(f.object));
    if (!r) throw new VerificationError(`${f.path}: object ${f.object} is missing from ${this.url}`, 'the repository lost an object: use another set (qsadmin backup list)');
    if (!this.keys) return r;
    const d = decryptStream(this.keys, f.object, `${f.path}: object ${f.object}`);
    r.on('error', (e) => d.destroy(e));
    return r.pipe(d);
  }

  /** Stream one file through a hash; the sha256 and size compared with the manifest. */
  private async checkFile(f: ManifestFile & { object: string }, sink?: NodeJS.WritableStream): Promise<string | null> {
    try {
      const tap = hashingTap();
      const steps: Array<NodeJS.ReadableStream | NodeJS.WritableStream | Transform> = [await this.readFile(f), tap];
      steps.push(sink ?? new (await import('node:stream')).Writable({ write: (_c, _e, cb) => cb() }));
      await pipeline(steps as never);
      const w = tap.result();
      if (w.bytes !== f.bytes) return `${f.path}: object ${f.object} holds ${w.bytes} bytes, the manifest says ${f.bytes}`;
      if (w.sha256 !== f.sha256) return `${f.path}: object ${f.object} has sha256 ${w.sha256}, the manifest says ${f.sha256}`;
      return null;
    } catch (e) {
      if (e instanceof VerificationError) return e.message;
      throw e;
    }
  }

  /** Verify every object of a set against the manifest (decrypting, hashing); problems name the file and object. */
  async verifyObjects(id: string, opts: { parallel?: number; onProgress?: (m: string) => void } = {}): Promise<{ manifest: Manifest2; problems: string[]; checkedFiles: number; checkedBytes: number }> {
    const m = await this.manifest(id);
    const problems: string[] = [];
    let checkedFiles = 0;
    let checkedBytes = 0;
    await mapLimit(m.files, opts.parallel ?? 4, async (f) => {
      const p = await this.checkFile(f);
      if (p) problems.push(p);
      checkedFiles++;
      checkedBytes += f.bytes;
      if (checkedFiles % 200 === 0) opts.onProgress?.(`${checkedFiles}/${m.files.length} files checked`);
    });
    return { manifest: m, problems: problems.sort(), checkedFiles, checkedBytes };
  }

  async recordVerification(id: string, v: VerifyRecord): Promise<void> {
    await this.writeSmall(setKey(id, `verified/${v.at.replace(/[-:.]/g, '')}`), v);
  }

  /**
   * Write a set as a format 1 folder (what restore and --deep read: pg_restore needs files), every file's sha256
   * checked as it arrives; the folder's manifest is written last, so a half-written folder is never taken for a set.
   */
  async materialize(id: string, dir: string, opts: { parallel?: number; onProgress?: (m: string) => void } = {}): Promise<Manifest> {
    const m = await this.manifest(id);
    if (readManifest(dir)) return readManifest(dir)!;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const problems: string[] = [];
    let n = 0;
    await mapLimit(m.files, opts.parallel ?? 4, async (f) => {
      const dest = path.join(dir, ...f.path.split('/'));
      if (fs.existsSync(dest) && fs.statSync(dest).size === f.bytes) return; // resumed: written and renamed before
      fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
      const tmp = `${dest}.partial`;
      const p = await this.checkFile(f, fs.createWriteStream(tmp, { mode: 0o600 }));
      if (p) {
        fs.rmSync(tmp, { force: true });
        problems.push(p);
        return;
      }
      fs.chmodSync(tmp, 0o400);
      fs.renameSync(tmp, dest);
      if (++n % 200 === 0) opts.onProgress?.(`${n}/${m.files.length} files fetched`);
    });
    if (problems.length) throw new VerificationError(`${this.url}#${id} is damaged: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`, 'use another set (qsadmin backup list)');
    const plain: Manifest = { ...m, format: 1, files: m.files.map(({ object: _o, ...f }) => f) };
    const tmp = path.join(dir, `manifest.json.${process.pid}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(plain, null, 1) + '\n', { mode: 0o400 });
    fs.renameSync(tmp, path.join(dir, 'manifest.json'));
    return plain;
  }

  /**
   * Apply retention (or delete the named sets), then delete every object no remaining set names, under the exclusive
   * lock. A set whose manifest the store refuses to delete (retention lock) is kept and reported so, never as pruned.
   */
  async prune(opts: { policy?: RetentionPolicy; ids?: string[]; dryRun?: boolean }): Promise<{ decisions: RetentionDecision[]; deleted: string[]; locked: string[]; objectsDeleted: number; bytesFreed: number }> {
    const release = opts.dryRun ? async () => undefined : await this.lock('exclusive', opts.ids ? `delete ${opts.ids.join(', ')}` : 'prune');
    try {
      const sets = await this.listSets();
      const decisions: RetentionDecision[] = opts.policy
        ? applyRetention(sets, opts.policy)
        : sets.map((s) => ({ id: s.id, keep: !opts.ids!.includes(s.id), reasons: opts.ids!.includes(s.id) ? ['named'] : ['not named'] }));
      const deleted: string[] = [];
      const locked: string[] = [];
      let objectsDeleted = 0;
      let bytesFreed = 0;
      if (opts.dryRun) return { decisions, deleted, locked, objectsDeleted, bytesFreed };
      for (const d of decisions.filter((x) => !x.keep)) {
        try {
          // The manifest first: from then on the set is incomplete and names nothing.
          await this.store.delete(setKey(d.id, 'manifest'));
        } catch (e) {
          if (!(e instanceof RetentionLockedError)) throw e;
          d.keep = true;
          d.reasons = [`retention lock: ${e.message}`];
          locked.push(d.id);
          continue;
        }
        for (const o of await this.store.list(`sets/${d.id}`)) await this.store.delete(o.key).catch(() => undefined);
        deleted.push(d.id);
      }
      // Objects named by any manifest still there (a damaged manifest keeps everything: nothing is deleted blind).
      const keep = new Set<string>();
      for (const s of await this.listSets()) {
        if (s.damaged) return { decisions, deleted, locked, objectsDeleted, bytesFreed };
        if (s.complete) for (const f of (await this.manifest(s.id)).files) keep.add(f.object);
      }
      for (const o of await this.store.list('objects')) {
        const name = o.key.split('/').pop()!;
        if (keep.has(name)) continue;
        try {
          await this.store.delete(o.key);
          objectsDeleted++;
          bytesFreed += o.size;
        } catch (e) {
          if (!(e instanceof RetentionLockedError)) throw e;
        }
      }
      return { decisions, deleted, locked, objectsDeleted, bytesFreed };
    } finally {
      await release();
    }
  }
}

function passphrase(envName: string): string {
  const v = process.env[envName];
  if (!v) throw new InputError(`the repository passphrase is not set: ${envName} is empty`, `set ${envName} (or name another variable with --passphrase-env); it is never taken from arguments`);
  if (v.length < 12) throw new InputError(`the repository passphrase in ${envName} is shorter than 12 characters`, 'use a longer passphrase: it guards the whole repository');
  return v;
}

function idDate(id: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})?Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7] ?? '000'}Z` : new Date(0).toISOString();
}

/** A set reference `<url>#<id>`, as `backup list` prints it for a repository. */
export function splitSetRef(ref: string): { url: string; id: string } | null {
  const i = ref.lastIndexOf('#');
  return i > 0 ? { url: ref.slice(0, i), id: ref.slice(i + 1) } : null;
}
