// A small QRS REST client: HTTPS with a client certificate (the trusted zone on 4242), the Xrfkey pair and X-Qlik-User
// (reference/qrs-api.md "Connecting"). Errors name the host and port they concern.
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { readPfx } from '../certs/pfx.js';
import { QRS_API_PORT } from '../site/services.js';

const XRF_CHARS = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The client certificate as PEM (what `Exported Certificates\.Local Certificates` holds). */
export interface QrsPemAuth {
  certPem: string;
  keyPem: string;
  /** The site CA that signed the server certificate (root.pem). */
  caPem: string;
}

/** The client certificate as a password-protected PFX (client.pfx of a certificate set); caPem is the site CA. */
export interface QrsPfxAuth {
  pfx: Buffer;
  passphrase: string;
  caPem: string;
}

export interface QrsClientOptions {
  /** Address to connect to (hostname or IP). */
  host: string;
  /** Default 4242. */
  port?: number;
  /** Name the server certificate must carry (the node's Qlik hostname); default `host`. */
  servername?: string;
  auth: QrsPemAuth | QrsPfxAuth;
  /** X-Qlik-User; default UserDirectory=INTERNAL; UserId=sa_api. */
  user?: { directory: string; id: string };
  timeoutMs?: number;
}

/** Why a QRS call failed: `status` is the HTTP status when QRS answered, undefined when it could not be reached. */
export class QrsError extends Error {
  override name = 'QrsError';
  // An error about one endpoint of one QRS.
  constructor(
    message: string,
    readonly where: string,
    readonly status?: number,
    readonly body?: string,
  ) {
    super(message);
  }
}

/** What GET /qrs/about returns (the fields we read). */
export interface QrsAbout {
  buildVersion: string;
  buildDate?: string;
  databaseProvider?: string;
  nodeType?: number;
  requiresBootstrap?: boolean;
  [key: string]: unknown;
}

// 16 random characters of 0-9, a-z, A-Z: the Xrfkey QRS requires in the query and the header.
export function newXrfkey(): string {
  let key = '';
  for (let i = 0; i < 16; i++) key += XRF_CHARS[randomInt(XRF_CHARS.length)];
  return key;
}

// The path with ?xrfkey=... (or &xrfkey=...) added.
export function withXrfkey(p: string, key: string): string {
  return `${p}${p.includes('?') ? '&' : '?'}xrfkey=${key}`;
}

// Turn PFX auth into PEM auth (Node's TLS would need the legacy provider for some PFX ciphers; forge reads them all).
function pemAuth(auth: QrsPemAuth | QrsPfxAuth): QrsPemAuth {
  if ('certPem' in auth) return auth;
  const c = readPfx(auth.pfx, auth.passphrase, 'the client PFX');
  if (!c.keyPem) throw new Error('the client PFX holds no private key: QRS needs the client certificate with its key');
  return { certPem: c.certPem, keyPem: c.keyPem, caPem: auth.caPem };
}

// A readable reason for a network or TLS failure.
function networkReason(err: NodeJS.ErrnoException, where: string): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return `nothing listens on ${where}: is the Qlik Sense Repository Service running there?`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${where} cannot be reached (${code}): check the hostname and the firewall (port 4242)`;
  if (code === 'ETIMEDOUT') return `${where} did not answer (${err.message})`;
  if (/self.signed|unable to verify|ALTNAME|altnames|Hostname\/IP|CERT_(HAS_EXPIRED|NOT_YET_VALID|SIGNATURE)/i.test(`${code} ${err.message}`)) {
    return `the server certificate of ${where} is not trusted (${code || err.message}): pass the site CA (root.pem) and the node's Qlik hostname`;
  }
  if (code === 'ECONNRESET' || /alert|handshake|certificate/i.test(`${code} ${err.message}`)) {
    return `the TLS handshake with ${where} failed (${code || err.message}): QRS did not accept the client certificate (not issued by the site CA, or no key)`;
  }
  return `${where} failed: ${err.message}`;
}

export class QrsClient {
  readonly where: string;
  private readonly auth: QrsPemAuth;
  private readonly agent: https.Agent;

  // A client for one QRS; certificates are read once here.
  constructor(private readonly opts: QrsClientOptions) {
    this.where = `${opts.host}:${opts.port ?? QRS_API_PORT}`;
    this.auth = pemAuth(opts.auth);
    this.agent = new https.Agent({ keepAlive: false });
  }

  // A client for another node's QRS with the same certificate and user (every node's server certificate is from the site CA).
  forNode(host: string, port: number, servername: string): QrsClient {
    return new QrsClient({ ...this.opts, host, port, servername, auth: this.auth });
  }

  // GET a QRS path and parse the JSON (or return the text when it is not JSON).
  async get<T = unknown>(p: string): Promise<T> {
    return this.request<T>('GET', p);
  }

  // POST a JSON body to a QRS path and parse the answer.
  async post<T = unknown>(p: string, body: unknown): Promise<T> {
    return this.request<T>('POST', p, body);
  }

  // PUT a JSON body (or nothing) to a QRS path and parse the answer.
  async put<T = unknown>(p: string, body?: unknown): Promise<T> {
    return this.request<T>('PUT', p, body);
  }

  // DELETE a QRS entity.
  async delete(p: string): Promise<void> {
    await this.request('DELETE', p);
  }

  // POST a file as the raw body (a QVF to /qrs/app/upload), streamed from disk, and parse the answer.
  async postFile<T = unknown>(p: string, file: string, contentType: string): Promise<T> {
    return this.request<T>('POST', p, undefined, { file, contentType });
  }

  // GET /qrs/about: version and build of the site.
  async about(): Promise<QrsAbout> {
    const a = await this.get<QrsAbout>('/qrs/about');
    if (!a || typeof a !== 'object' || typeof a.buildVersion !== 'string') {
      throw new QrsError(`QRS at ${this.where} answered /qrs/about without a buildVersion: is this a Qlik Sense Repository Service?`, this.where, 200);
    }
    return a;
  }

  // One request with a fresh Xrfkey; resolves with the parsed body of a 2xx answer, rejects with a QrsError otherwise.
  request<T>(method: string, p: string, body?: unknown, upload?: { file: string; contentType: string }): Promise<T> {
    const key = newXrfkey();
    const user = this.opts.user ?? { directory: 'INTERNAL', id: 'sa_api' };
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string | number> = {
      'X-Qlik-Xrfkey': key,
      'X-Qlik-User': `UserDirectory=${user.directory}; UserId=${user.id}`,
      Accept: 'application/json',
    };
    if (payload) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
    else if (upload) Object.assign(headers, { 'Content-Type': upload.contentType, 'Content-Length': fs.statSync(upload.file).size });
    else if (method === 'PUT' || method === 'POST') headers['Content-Length'] = 0;
    const call = `${method} ${p.split('?')[0]}`;
    return new Promise<T>((resolve, reject) => {
      const req = https.request(
        {
          host: this.opts.host,
          port: this.opts.port ?? QRS_API_PORT,
          servername: this.opts.servername ?? this.opts.host,
          path: withXrfkey(p, key),
          method,
          cert: this.auth.certPem,
          key: this.auth.keyPem,
          ca: this.auth.caPem,
          headers,
          agent: this.agent,
          timeout: this.opts.timeoutMs ?? (upload ? 600_000 : 30_000),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) {
              reject(new QrsError(`QRS at ${this.where} answered ${status} to ${call}: ${text.slice(0, 300) || res.statusMessage}`, this.where, status, text));
              return;
            }
            resolve(parseBody<T>(text));
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${Math.round((this.opts.timeoutMs ?? 30_000) / 1000)} s`), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => reject(new QrsError(`${call} to QRS: ${networkReason(err, this.where)}`, this.where)));
      if (upload) {
        const src = fs.createReadStream(upload.file, { highWaterMark: 1 << 20 });
        src.on('error', (err) => req.destroy(err));
        src.pipe(req);
        return;
      }
      if (payload) req.write(payload);
      req.end();
    });
  }

  // Release the connection pool.
  close(): void {
    this.agent.destroy();
  }
}

// Parse a body as JSON, falling back to the text (QRS returns bare strings for some endpoints).
function parseBody<T>(text: string): T {
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    return text as T;
  }
}

// Read client.pem, client_key.pem and root.pem from a folder (an `Exported Certificates\.Local Certificates` copy).
export function pemAuthFromDir(dir: string): QrsPemAuth {
  const read = (f: string) => {
    const file = path.join(dir, f);
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}; the QRS client needs client.pem, client_key.pem and root.pem`);
    }
  };
  return { certPem: read('client.pem'), keyPem: read('client_key.pem'), caPem: read('root.pem') };
}
