// S3 (and S3-compatible stores) through @aws-sdk/client-s3. Credentials: the SDK's default chain only (AWS_* in the
// environment, the shared config files, an instance role); never an argument. Large objects go up as multipart
// uploads with a few parts in flight, so memory stays bounded (PARTS_IN_FLIGHT × PART_BYTES) whatever the size.
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { faultPoint } from '../../runbook/fault.js';
import { RetentionLockedError, StaleUploadError, cutParts, eachPart, partMd5, type ObjectStore, type PutOptions, type RepoUrl, type StoreStats, type StoredObject, under } from './store.js';

const PART_BYTES = 8 << 20;
const PARTS_IN_FLIGHT = 3;

type S3Url = Extract<RepoUrl, { kind: 's3' }>;

export async function openS3Store(u: S3Url): Promise<ObjectStore> {
  const sdk = await import('@aws-sdk/client-s3');
  const client = new sdk.S3Client({
    region: u.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(u.endpoint ? { endpoint: u.endpoint } : {}),
    forcePathStyle: !!u.pathStyle,
    // S3-compatible servers that predate the SDK's default CRC32 / aws-chunked request checksums refuse them:
    // for a custom endpoint, checksums are sent only where the API requires them (content sha256 is still signed).
    ...(u.endpoint ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
  });
  return new S3Store(client, sdk, u);
}

class S3Store implements ObjectStore {
  readonly stats: StoreStats = { requests: {}, bytesSent: 0 };
  /** Parts acknowledged by the store in this process: the kill tests' crash point repo.upload:part-<n>. */
  private partsAcked = 0;
  readonly where: string;
  constructor(
    private c: S3Client,
    private sdk: typeof import('@aws-sdk/client-s3'),
    private u: S3Url,
  ) {
    this.where = u.url;
  }
  private count(verb: string) {
    this.stats.requests[verb] = (this.stats.requests[verb] ?? 0) + 1;
  }
  private key(k: string) {
    return under(this.u.prefix, k);
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<void> {
    const Bucket = this.u.bucket;
    const Key = this.key(key);
    if (Buffer.isBuffer(body)) return this.putOne(Key, body);
    // Read the first two parts: an object that fits in one part is one PUT.
    const it = cutParts(body, PART_BYTES)[Symbol.asyncIterator]();
    const first = (await it.next()).value as Buffer;
    const second = await it.next();
    if (second.done) {
      opts.journal?.drop(key);
      return this.putOne(Key, first);
    }
    const all = (async function* () {
      yield first;
      yield second.value;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    })();
    // A killed run's upload goes on where it stopped: same upload id, and the parts it sent are not sent again
    // (a part counts as sent when its size and MD5 match: the bytes are deterministic, crypto.ts objectSalt).
    const prior = opts.journal?.load(key);
    const done = new Map((prior?.uploadId ? prior.parts : []).map((p) => [p.n, p]));
    let UploadId = prior?.uploadId;
    if (!UploadId) {
      this.count('createMultipart');
      UploadId = (await this.c.send(new this.sdk.CreateMultipartUploadCommand({ Bucket, Key }))).UploadId!;
      opts.journal?.save(key, { uploadId: UploadId, parts: [] });
    }
    const parts: Array<{ ETag: string; PartNumber: number }> = [];
    try {
      await eachPart(all, PARTS_IN_FLIGHT, async (data, PartNumber) => {
        const md5 = partMd5(data);
        const had = done.get(PartNumber);
        if (had && had.bytes === data.length && had.md5 === md5) {
          this.count('partPresent');
          parts.push({ ETag: had.tag, PartNumber });
          return;
        }
        this.count('uploadPart');
        const r = await this.c.send(new this.sdk.UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: data, ContentLength: data.length }));
        this.stats.bytesSent += data.length;
        parts.push({ ETag: r.ETag!, PartNumber });
        done.set(PartNumber, { n: PartNumber, bytes: data.length, md5, tag: r.ETag! });
        opts.journal?.save(key, { uploadId: UploadId, parts: [...done.values()] });
        faultPoint(`repo.upload:part-${++this.partsAcked}`);
      });
      this.count('completeMultipart');
      await this.c.send(new this.sdk.CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts.sort((a, b) => a.PartNumber - b.PartNumber) } }));
    } catch (e) {
      const name = (e as Error).name;
      // The upload id of a journal that the store no longer knows (aborted, or removed by a lifecycle rule).
      if (prior?.uploadId && (name === 'NoSuchUpload' || name === 'InvalidPart')) throw new StaleUploadError(`${this.where}/${key}: the store no longer has the unfinished upload ${UploadId} (${name})`);
      // With a journal the parts stay for the resumed run (an AbortIncompleteMultipartUpload lifecycle rule removes
      // uploads never resumed); without one there is nothing to resume, so the upload is aborted.
      if (!opts.journal) await this.c.send(new this.sdk.AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
      throw e;
    }
    opts.journal?.drop(key);
  }

  private async putOne(Key: string, data: Buffer): Promise<void> {
    this.count('put');
    await this.c.send(new this.sdk.PutObjectCommand({ Bucket: this.u.bucket, Key, Body: data, ContentLength: data.length }));
    this.stats.bytesSent += data.length;
  }

  async get(key: string): Promise<Readable | null> {
    this.count('get');
    try {
      const r = await this.c.send(new this.sdk.GetObjectCommand({ Bucket: this.u.bucket, Key: this.key(key) }));
      return r.Body as Readable;
    } catch (e) {
      // A missing bucket is a 404 too, but not an absent object: the repository cannot be reached.
      if ((e as { name?: string }).name === 'NoSuchBucket') throw e;
      if ((e as { name?: string }).name === 'NoSuchKey' || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
      throw e;
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const full = this.key(prefix);
    let ContinuationToken: string | undefined;
    do {
      this.count('list');
      const r = await this.c.send(new this.sdk.ListObjectsV2Command({ Bucket: this.u.bucket, Prefix: full ? `${full}/` : undefined, ContinuationToken }));
      for (const o of r.Contents ?? []) {
        const rel = this.u.prefix ? o.Key!.slice(this.u.prefix.length + 1) : o.Key!;
        out.push({ key: rel, size: o.Size ?? 0 });
      }
      ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return out;
  }

  async delete(key: string): Promise<void> {
    this.count('delete');
    try {
      await this.c.send(new this.sdk.DeleteObjectCommand({ Bucket: this.u.bucket, Key: this.key(key) }));
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // Object Lock (compliance or governance retention, legal hold) answers 403 AccessDenied.
      if (status === 403 || status === 409) throw new RetentionLockedError(`${this.where}/${key}: the store refuses to delete it (${(e as Error).name}: Object Lock retention or legal hold?)`);
      throw e;
    }
  }
}
