// Azure Blob Storage through @azure/storage-blob. Credentials from the environment only: AZURE_STORAGE_KEY (shared
// key) or AZURE_STORAGE_SAS_TOKEN, else the SDK's default chain (managed identity on an Azure VM, az login) through
// @azure/identity when it is installed. Block blobs are uploaded as a stream with a few blocks in flight (bounded
// memory). QSADMIN_AZURE_ENDPOINT points at another blob endpoint (Azurite: http://127.0.0.1:10000/devstoreaccount1).
import type { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import { InputError } from '../../runbook/errors.js';
import { RetentionLockedError, counter, type ObjectStore, type RepoUrl, type StoreStats, type StoredObject, under } from './store.js';

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
  async put(key: string, body: Buffer | Readable): Promise<void> {
    const b = this.c.getBlockBlobClient(this.key(key));
    if (Buffer.isBuffer(body)) {
      this.count('put');
      await b.uploadData(body, { blockSize: BLOCK_BYTES, concurrency: BLOCKS_IN_FLIGHT });
      this.stats.bytesSent += body.length;
      return;
    }
    const counted = counter();
    body.on('error', (e) => counted.destroy(e));
    await b.uploadStream(body.pipe(counted), BLOCK_BYTES, BLOCKS_IN_FLIGHT);
    const n = counted.bytes;
    // uploadStream sends one Put Blob for a small stream, else one Put Block per block and a Put Block List.
    this.count('put', n <= BLOCK_BYTES ? 1 : Math.ceil(n / BLOCK_BYTES) + 1);
    this.stats.bytesSent += n;
  }
  async get(key: string): Promise<Readable | null> {
    this.count('get');
    try {
      const r = await this.c.getBlobClient(this.key(key)).download();
      return r.readableStreamBody as Readable;
    } catch (e) {
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
