// Azure Blob Storage through @azure/storage-blob. Credentials from the environment only: AZURE_STORAGE_KEY (shared
// key) or AZURE_STORAGE_SAS_TOKEN, else the SDK's default chain (managed identity on an Azure VM, az login) through
// @azure/identity when it is installed. Block blobs are uploaded block by block with a few in flight (bounded
// memory: BLOCKS_IN_FLIGHT + 1 blocks). QSADMIN_AZURE_ENDPOINT points at another blob endpoint (Azurite: http://127.0.0.1:10000/devstoreaccount1).
import { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import { InputError } from '../../runbook/errors.js';
import { faultPoint } from '../../runbook/fault.js';
import { RetentionLockedError, StaleUploadError, cutParts, eachPart, partMd5, type ObjectStore, type PutOptions, type RepoUrl, type StoreStats, type StoredObject, under } from './store.js';

const BLOCK_BYTES = 8 << 20;
const BLOCKS_IN_FLIGHT = 3;

type AzureUrl = Extract<RepoUrl, { kind: 'azure' }>;

export async function openAzureStore(u: AzureUrl): Promise<ObjectStore> {
  const sdk = await import('@azure/storage-blob');
  const endpoint = process.env.QSADMIN_AZURE_ENDPOINT ?? `https://${u.account}.blob.core.windows.net`;
  let service;
  if (process.env.AZURE_STORAGE_KEY) service = new sdk.BlobServiceClient(endpoint, new sdk.StorageSharedKeyCredential(u.account, process.env.AZURE_STORAGE_KEY));
  else if (process.env.AZURE_STORAGE_SAS_TOKEN) service = new sdk.BlobServiceClient(`${endpoint}?${process.env.AZURE_STORAGE_SAS_TOKEN.replace(/^\?/, '')}`);
  else {
    let identity: { DefaultAzureCredential: new () => unknown };
    try {
      identity = (await import(/* optional */ '@azure/identity' as string)) as never;
    } catch {
      throw new InputError(
        `no Azure credentials for ${u.url}: AZURE_STORAGE_KEY and AZURE_STORAGE_SAS_TOKEN are not set, and @azure/identity (managed identity, az login) is not installed`,
        'set AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN in the environment, or install @azure/identity beside qsadmin for managed identity',
      );
    }
    service = new sdk.BlobServiceClient(endpoint, new identity.DefaultAzureCredential() as never);
  }
  return new AzureStore(service.getContainerClient(u.container), u);
}

class AzureStore implements ObjectStore {
  readonly stats: StoreStats = { requests: {}, bytesSent: 0 };
  /** Parts acknowledged by the store in this process: the kill tests' crash point repo.upload:part-<n>. */
  private partsAcked = 0;
  readonly where: string;
  constructor(
    private c: ContainerClient,
    private u: AzureUrl,
  ) {
    this.where = u.url;
  }
  private count(verb: string, n = 1) {
    this.stats.requests[verb] = (this.stats.requests[verb] ?? 0) + n;
  }
  private key(k: string) {
    return under(this.u.prefix, k);
  }
  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<void> {
    const b = this.c.getBlockBlobClient(this.key(key));
    const it = (Buffer.isBuffer(body) ? cutParts(Readable.from([body]), BLOCK_BYTES) : cutParts(body, BLOCK_BYTES))[Symbol.asyncIterator]();
    const first = (await it.next()).value as Buffer;
    const second = await it.next();
    if (second.done) {
      // One block's worth or less: one Put Blob.
      opts.journal?.drop(key);
      this.count('put');
      await b.upload(first, first.length);
      this.stats.bytesSent += first.length;
      return;
    }
    const all = (async function* () {
      yield first;
      yield second.value;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    })();
    // Put Block per block, then Put Block List. A block's id names its index and MD5, so a resumed run finds the
    // blocks a killed one staged (uncommitted blocks stay a week) and sends only the others.
    const prior = opts.journal?.load(key);
    const done = new Map((prior?.parts ?? []).map((p) => [p.n, p]));
    const ids: string[] = [];
    await eachPart(all, BLOCKS_IN_FLIGHT, async (data, n) => {
      const md5 = partMd5(data);
      const id = Buffer.from(`qsadmin-${String(n).padStart(6, '0')}-${md5}`).toString('base64');
      ids[n - 1] = id;
      const had = done.get(n);
      if (had && had.bytes === data.length && had.tag === id) {
        this.count('blockPresent');
        return;
      }
      this.count('putBlock');
      await b.stageBlock(id, data, data.length);
      this.stats.bytesSent += data.length;
      done.set(n, { n, bytes: data.length, md5, tag: id });
      opts.journal?.save(key, { parts: [...done.values()] });
      faultPoint(`repo.upload:part-${++this.partsAcked}`);
    });
    this.count('putBlockList');
    try {
      await b.commitBlockList(ids);
    } catch (e) {
      if (prior && (e as { code?: string }).code === 'InvalidBlockList') throw new StaleUploadError(`${this.where}/${key}: the store no longer has the blocks a killed upload staged (InvalidBlockList)`);
      throw e;
    }
    opts.journal?.drop(key);
  }
  async get(key: string): Promise<Readable | null> {
    this.count('get');
    try {
      const r = await this.c.getBlobClient(this.key(key)).download();
      return r.readableStreamBody as Readable;
    } catch (e) {
      // A missing container is a 404 too, but not an absent object: the repository cannot be reached.
      if ((e as { code?: string }).code === 'ContainerNotFound') throw e;
      if ((e as { statusCode?: number }).statusCode === 404) return null;
      throw e;
    }
  }
  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const full = this.key(prefix);
    this.count('list');
    for await (const b of this.c.listBlobsFlat({ prefix: full ? `${full}/` : undefined })) {
      out.push({ key: this.u.prefix ? b.name.slice(this.u.prefix.length + 1) : b.name, size: b.properties.contentLength ?? 0 });
    }
    return out;
  }
  async delete(key: string): Promise<void> {
    this.count('delete');
    try {
      await this.c.deleteBlob(this.key(key));
    } catch (e) {
      const status = (e as { statusCode?: number }).statusCode;
      if (status === 404) return;
      // An immutability policy or legal hold answers 409 (BlobImmutableDueToPolicy) or 403.
      if (status === 409 || status === 403) throw new RetentionLockedError(`${this.where}/${key}: the store refuses to delete it (${(e as { code?: string }).code ?? status}: immutability policy or legal hold?)`);
      throw e;
    }
  }
}
