// Real object-store servers for the repository tests, on 127.0.0.67 only: Azurite (Microsoft's Azure Storage
// emulator, a child process) and s3rver (an S3-compatible server, in this process so the tests can count its requests).
// Neither enforces Azure immutability policies or S3 Object Lock: the refusal path is tested with injected answers.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';

export const OBJECT_HOST = '127.0.0.67';
/** Azurite's well-known development account and key (public, in Microsoft's documentation). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.listen(0, OBJECT_HOST, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });
}

async function waitListening(port: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const c = net.connect(port, OBJECT_HOST, () => (c.end(), res(true)));
      c.on('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${OBJECT_HOST}:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Servers {
  azure: { endpoint: string; env: Record<string, string>; container: (name: string) => Promise<void> };
  s3: { endpoint: string; env: Record<string, string>; bucket: (name: string) => Promise<void>; requests: Array<{ method: string; url: string }> };
  stop(): Promise<void>;
}

export async function startObjectServers(): Promise<Servers> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-objsrv-'));
  const azPort = await freePort();
  const bin = path.resolve('node_modules/azurite/dist/src/blob/main.js');
  const az: ChildProcess = spawn(process.execPath, [bin, '--blobHost', OBJECT_HOST, '--blobPort', String(azPort), '--location', path.join(dir, 'azurite'), '--silent', '--skipApiVersionCheck', '--disableTelemetry', '--loose'], { stdio: 'ignore' });
  const endpoint = `http://${OBJECT_HOST}:${azPort}/${AZURITE_ACCOUNT}`;
  const { default: S3rver } = (await import('s3rver')) as unknown as { default: new (o: object) => { run(): Promise<{ port: number }>; close(): Promise<void>; httpServer: import('node:http').Server; store: { putBucket(b: string): Promise<void> } } };
  const s3 = new S3rver({ address: OBJECT_HOST, port: 0, silent: true, directory: path.join(dir, 's3rver') });
  const { port: s3Port } = await s3.run();
  const requests: Array<{ method: string; url: string }> = [];
  s3.httpServer.on('request', (r: IncomingMessage) => requests.push({ method: r.method ?? '', url: r.url ?? '' }));
  await waitListening(azPort);
  const azEnv = { AZURE_STORAGE_KEY: AZURITE_KEY, QSADMIN_AZURE_ENDPOINT: endpoint };
  const s3Endpoint = `http://${OBJECT_HOST}:${s3Port}`;
  // s3rver takes any credentials (S3RVER/S3RVER by convention); the SDK's chain reads them from the environment.
  const s3Env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', QSADMIN_S3_ENDPOINT: s3Endpoint };
  return {
    azure: {
      endpoint,
      env: azEnv,
      container: async (name) => {
        const sdk = await import('@azure/storage-blob');
        const svc = new sdk.BlobServiceClient(endpoint, new sdk.StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
        await svc.getContainerClient(name).createIfNotExists();
      },
    },
    s3: {
      endpoint: s3Endpoint,
      env: s3Env,
      requests,
      bucket: async (name) => {
        const sdk = await import('@aws-sdk/client-s3');
        const c = new sdk.S3Client({ region: 'us-east-1', endpoint: s3Endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, requestChecksumCalculation: 'WHEN_REQUIRED' });
        await c.send(new sdk.CreateBucketCommand({ Bucket: name }));
      },
    },
    async stop() {
      await s3.close().catch(() => undefined);
      az.kill('SIGTERM');
      await new Promise((r) => (az.exitCode !== null ? r(null) : az.once('exit', r)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
