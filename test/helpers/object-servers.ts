// Real object-store servers for the repository tests, on 127.0.0.67 unless a test file passes its own address:
// Azurite (Microsoft's Azure Storage emulator, a child process, reached through a counting pass-through in this process)
// and s3rver (an S3-compatible server, in this process), so the tests can count the requests each server received.
// Neither enforces Azure immutability policies or S3 Object Lock: the refusal path is tested with injected answers.
// s3rver 3.7 makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 has only in its legacy provider: a
// listing past 1000 keys is a 500 InternalError unless this process runs with --openssl-legacy-provider (the tests stay
// far below; scripts/bench-repos.js re-runs itself with it).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import http, { type IncomingMessage } from 'node:http';

/** The address of the servers; QSADMIN_TEST_OBJECT_HOST moves them (two copies of a file at once, each its own). */
export const OBJECT_HOST = process.env.QSADMIN_TEST_OBJECT_HOST ?? '127.0.0.67';
/** Azurite's well-known development account and key (public, in Microsoft's documentation). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

async function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.listen(0, host, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });
}

async function waitListening(host: string, port: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const c = net.connect(port, host, () => (c.end(), res(true)));
      c.on('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Servers {
  azure: { endpoint: string; env: Record<string, string>; container: (name: string) => Promise<void>; requests: Array<{ method: string; url: string }> };
  s3: { endpoint: string; env: Record<string, string>; bucket: (name: string) => Promise<void>; requests: Array<{ method: string; url: string }> };
  stop(): Promise<void>;
}

export async function startObjectServers(host = OBJECT_HOST): Promise<Servers> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qsadmin-objsrv-'));
  const azPort = await freePort(host);
  const bin = path.resolve('node_modules/azurite/dist/src/blob/main.js');
  const az: ChildProcess = spawn(process.execPath, [bin, '--blobHost', host, '--blobPort', String(azPort), '--location', path.join(dir, 'azurite'), '--silent', '--skipApiVersionCheck', '--disableTelemetry', '--loose'], { stdio: 'ignore' });
  // The tests talk to Azurite through a pass-through that records each request as it arrives (Azurite is a child).
  const azRequests: Array<{ method: string; url: string }> = [];
  const proxy = http.createServer((req, res) => {
    azRequests.push({ method: req.method ?? '', url: req.url ?? '' });
    const up = http.request({ host, port: azPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.on('aborted', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((res) => proxy.listen(0, host, () => res()));
  const endpoint = `http://${host}:${(proxy.address() as net.AddressInfo).port}/${AZURITE_ACCOUNT}`;
  const { default: S3rver } = (await import('s3rver')) as unknown as { default: new (o: object) => { run(): Promise<{ port: number }>; close(): Promise<void>; httpServer: import('node:http').Server; store: { putBucket(b: string): Promise<void> } } };
  const s3 = new S3rver({ address: host, port: 0, silent: true, directory: path.join(dir, 's3rver') });
  const { port: s3Port } = await s3.run();
  const requests: Array<{ method: string; url: string }> = [];
  s3.httpServer.on('request', (r: IncomingMessage) => requests.push({ method: r.method ?? '', url: r.url ?? '' }));
  await waitListening(host, azPort);
  const azEnv = { AZURE_STORAGE_KEY: AZURITE_KEY, QSADMIN_AZURE_ENDPOINT: endpoint };
  const s3Endpoint = `http://${host}:${s3Port}`;
  // s3rver takes any credentials (S3RVER/S3RVER by convention); the SDK's chain reads them from the environment.
  const s3Env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', QSADMIN_S3_ENDPOINT: s3Endpoint };
  return {
    azure: {
      endpoint,
      env: azEnv,
      requests: azRequests,
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
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
      az.kill('SIGTERM');
      await new Promise((r) => (az.exitCode !== null ? r(null) : az.once('exit', r)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
