// The QRS client against a local HTTPS server with client-certificate auth: Xrfkey pair, X-Qlik-User, JSON bodies, clear errors.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLeaf, generateQlikCertSet, type QlikCertSet } from '../src/certs/generate.js';
import { writePfx } from '../src/certs/pfx.js';
import { QrsClient, QrsError, newXrfkey } from '../src/qrs/client.js';

const HOST = 'qs-api.corp.test';
let set: QlikCertSet;
let server: https.Server;
let port: number;
const seen: Array<{ method: string; url: string; xrf: string | undefined; user: string | undefined; body: string }> = [];

beforeAll(async () => {
  set = generateQlikCertSet(HOST, { keyBits: 1024 });
  server = https.createServer({ cert: set.server.certPem, key: set.server.keyPem, ca: set.root.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const xrf = req.headers['x-qlik-xrfkey'] as string | undefined;
      seen.push({ method: req.method!, url: req.url!, xrf, user: req.headers['x-qlik-user'] as string | undefined, body });
      const q = new URL(req.url!, 'https://x').searchParams.get('xrfkey');
      if (!xrf || q !== xrf) {
        res.writeHead(403).end('XSRF prevention check failed');
        return;
      }
      if (req.url!.startsWith('/qrs/about')) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ buildVersion: '14.222.5' }));
      else if (req.method === 'POST') res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify('C:\\ProgramData\\Qlik\\Sense\\Repository\\Exported Certificates'));
      else res.writeHead(404).end('not here');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

// A client for the test server with the set's client certificate.
function client(auth?: Partial<{ certPem: string; keyPem: string }>): QrsClient {
  return new QrsClient({ host: '127.0.0.1', port, servername: HOST, auth: { certPem: auth?.certPem ?? set.client.certPem, keyPem: auth?.keyPem ?? set.client.keyPem, caPem: set.root.certPem }, timeoutMs: 5000 });
}

describe('QrsClient', () => {
  it('makes Xrfkeys of 16 characters of 0-9a-zA-Z, different each time', () => {
    const keys = new Set(Array.from({ length: 50 }, () => newXrfkey()));
    expect(keys.size).toBe(50);
    for (const k of keys) expect(k).toMatch(/^[0-9a-zA-Z]{16}$/);
  });

  it('sends the same Xrfkey in the query and the header, and X-Qlik-User sa_api', async () => {
    const c = client();
    expect((await c.about()).buildVersion).toBe('14.222.5');
    const last = seen.at(-1)!;
    expect(last.url).toBe(`/qrs/about?xrfkey=${last.xrf}`);
    expect(last.user).toBe('UserDirectory=INTERNAL; UserId=sa_api');
    c.close();
  });

  it('posts JSON and returns the parsed answer', async () => {
    const c = client();
    const folder = await c.post<string>('/qrs/certificatedistribution/exportcertificates', { machineNames: ['rim1'], certificatePassword: 'pw-12345678', includeSecretsKey: true, exportFormat: 0 });
    expect(folder).toContain('Exported Certificates');
    expect(JSON.parse(seen.at(-1)!.body)).toMatchObject({ machineNames: ['rim1'], includeSecretsKey: true });
    c.close();
  });

  it('reads the client certificate from a PFX', async () => {
    const c = new QrsClient({ host: '127.0.0.1', port, servername: HOST, auth: { pfx: writePfx(set.client, 'pfx-password'), passphrase: 'pfx-password', caPem: set.root.certPem } });
    expect((await c.about()).buildVersion).toBe('14.222.5');
    c.close();
  });

  it('names host and port when QRS answers with an error status', async () => {
    const c = client();
    const err = (await c.get('/qrs/nothing').catch((e: unknown) => e)) as QrsError;
    expect(err).toBeInstanceOf(QrsError);
    expect(err.status).toBe(404);
    expect(err.message).toBe(`QRS at 127.0.0.1:${port} answered 404 to GET /qrs/nothing: not here`);
    c.close();
  });

  it('names host and port when nothing listens', async () => {
    const c = new QrsClient({ host: '127.0.0.1', port: 1, servername: HOST, auth: { certPem: set.client.certPem, keyPem: set.client.keyPem, caPem: set.root.certPem } });
    await expect(c.about()).rejects.toThrow('GET /qrs/about to QRS: nothing listens on 127.0.0.1:1: is the Qlik Sense Repository Service running there?');
  });

  it('says when QRS refuses a client certificate from another CA', async () => {
    const other = generateQlikCertSet('elsewhere.corp.test', { keyBits: 1024 });
    const c = client(generateLeaf(other.root, 'QlikClient', 'Client', { kind: 'client', keyBits: 1024 }));
    await expect(c.about()).rejects.toThrow(new RegExp(`TLS handshake with 127\\.0\\.0\\.1:${port} failed .*QRS did not accept the client certificate`));
  });

  it('says when the server certificate is not trusted', async () => {
    const other = generateQlikCertSet('elsewhere.corp.test', { keyBits: 1024 });
    const c = new QrsClient({ host: '127.0.0.1', port, servername: HOST, auth: { certPem: set.client.certPem, keyPem: set.client.keyPem, caPem: other.root.certPem } });
    await expect(c.about()).rejects.toThrow(new RegExp(`server certificate of 127\\.0\\.0\\.1:${port} is not trusted`));
  });
});
