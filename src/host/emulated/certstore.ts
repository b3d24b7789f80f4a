// The emulated Windows certificate store: one folder per store and user, <THUMBPRINT>.crt/.key/.json per certificate (DESIGN.md, emulated site).
import { EmulatedMachine } from './machine.js';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CertStore, StoreRef, StoredCert } from '../types.js';
import { CertError } from '../../certs/errors.js';
import { describeCert, keyMatchesCert, normalizeThumbprint } from '../../certs/inspect.js';
import { storeLabelWithUser } from '../../certs/qlik.js';

/** Extended properties Windows keeps with a certificate and its key. */
export interface CertProperties {
  friendlyName?: string;
  /** Whether the private key may be exported (Windows: "mark this key as exportable"). */
  exportable: boolean;
  /** Accounts allowed to use the private key. */
  keyAcl: string[];
}

// Read a file, or null when it does not exist.
async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

// Write a file through a temporary name and a rename, so a crash never leaves half a certificate.
async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

export class EmulatedCertStore implements CertStore {
  // A store for the node directory `nodeRoot`, acting as `serviceAccount` (the account CurrentUser stores default to).
  constructor(
    readonly nodeRoot: string,
    readonly serviceAccount: string,
  ) {}

  // The emulated stores refuse what Windows refuses an unelevated caller: LocalMachine (the node's machine.json).
  async reachable(store: StoreRef): Promise<string | null> {
    if (store.location !== 'LocalMachine') return null;
    const me = await new EmulatedMachine(this.nodeRoot, 'node').identity();
    return me.elevated ? null : `LocalMachine\\${store.name} needs an elevated process and ${me.user} runs qsadmin without an administrator token`;
  }

  // The store with its CurrentUser account filled in (the service account when none is given).
  resolveStore(store: StoreRef): StoreRef {
    if (store.location === 'LocalMachine') return { location: 'LocalMachine', name: store.name };
    return { location: 'CurrentUser', name: store.name, user: store.user ?? this.serviceAccount };
  }

  // The folder that holds a store: Windows/CertStore/LocalMachine/<name> or Users/<account>/CertStore/<name>.
  dirOf(store: StoreRef): string {
    const s = this.resolveStore(store);
    if (s.location === 'LocalMachine') return path.join(this.nodeRoot, 'Windows', 'CertStore', 'LocalMachine', s.name);
    return path.join(this.nodeRoot, 'Users', s.user!.replace(/\\/g, '_'), 'CertStore', s.name);
  }

  // The .crt, .key and .json paths of one certificate.
  private filesOf(store: StoreRef, thumbprint: string): { crt: string; key: string; json: string } {
    const base = path.join(this.dirOf(store), normalizeThumbprint(thumbprint));
    return { crt: `${base}.crt`, key: `${base}.key`, json: `${base}.json` };
  }

  // The extended properties of a certificate (defaults when it has no .json).
  async properties(store: StoreRef, thumbprint: string): Promise<CertProperties> {
    const raw = await readIfExists(this.filesOf(store, thumbprint).json);
    const props = raw ? (JSON.parse(raw.toString('utf8')) as Partial<CertProperties>) : {};
    return { exportable: props.exportable ?? false, keyAcl: props.keyAcl ?? [], ...(props.friendlyName !== undefined ? { friendlyName: props.friendlyName } : {}) };
  }

  // Every certificate in a store, sorted by thumbprint.
  async list(store: StoreRef): Promise<StoredCert[]> {
    const dir = this.dirOf(store);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: StoredCert[] = [];
    for (const name of names.filter((n) => n.endsWith('.crt')).sort()) {
      const thumbprint = name.slice(0, -4);
      const cert = await this.get(store, thumbprint);
      if (cert) out.push(cert);
    }
    return out;
  }

  // One certificate of a store, or null when it is not there.
  async get(store: StoreRef, thumbprint: string): Promise<StoredCert | null> {
    const files = this.filesOf(store, thumbprint);
    const pem = await readIfExists(files.crt);
    if (!pem) return null;
    const info = describeCert(pem);
    const key = await readIfExists(files.key);
    return {
      store: this.resolveStore(store),
      thumbprint: info.thumbprint,
      subject: info.subject,
      issuer: info.issuer,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      hasPrivateKey: key !== null,
      qlikExtension: info.qlikExtension,
      der: info.der,
    };
  }

  // The private key PEM of a certificate, or null.
  async privateKeyPem(store: StoreRef, thumbprint: string): Promise<string | null> {
    const key = await readIfExists(this.filesOf(store, thumbprint).key);
    return key ? key.toString('utf8') : null;
  }

  // Export a certificate with its key and friendly name as a PFX; refuses, as Windows does, without a key or when the key is not exportable.
  async exportPfx(store: StoreRef, thumbprint: string, password: string): Promise<Buffer> {
    const where = storeLabelWithUser(this.resolveStore(store));
    const files = this.filesOf(store, thumbprint);
    const certPem = await readIfExists(files.crt);
    if (!certPem) throw new CertError('NOT_FOUND', `no certificate ${normalizeThumbprint(thumbprint)} in ${where}`);
    const keyPem = await this.privateKeyPem(store, thumbprint);
    if (!keyPem) throw new CertError('NO_KEY', `certificate ${normalizeThumbprint(thumbprint)} in ${where} has no private key: it cannot be exported as a PFX with its key`);
    const props = await this.properties(store, thumbprint);
    if (!props.exportable) {
      throw new CertError('NOT_EXPORTABLE', `the private key of ${normalizeThumbprint(thumbprint)} in ${where} is not marked exportable: re-import it from its PFX with the key marked exportable`);
    }
    if (props.keyAcl.length > 0 && !props.keyAcl.some((a) => a.toLowerCase() === this.serviceAccount.toLowerCase())) {
      throw new CertError('KEY_ACCESS_DENIED', `${this.serviceAccount} has no access to the private key of ${normalizeThumbprint(thumbprint)} in ${where} (allowed: ${props.keyAcl.join(', ')}): grant it in the certificate console (All Tasks > Manage Private Keys)`);
    }
    const { writePfx } = await import('../../certs/pfx.js'); // node-forge, slow to load: only when a PFX is made
    return writePfx({ certPem: certPem.toString('utf8'), keyPem }, password, [], props.friendlyName !== undefined ? { friendlyName: props.friendlyName } : {});
  }

  // Put a certificate (and key) into a store directly, replacing one with the same thumbprint; for tests and the emulator's own QRS.
  async put(store: StoreRef, pair: { certPem: string; keyPem?: string | null }, props: Partial<CertProperties> = {}): Promise<StoredCert> {
    if (pair.keyPem && !keyMatchesCert(pair.certPem, pair.keyPem)) {
      throw new CertError('KEY_MISMATCH', `the private key does not belong to certificate ${describeCert(pair.certPem).subject}`);
    }
    const info = describeCert(pair.certPem);
    await mkdir(this.dirOf(store), { recursive: true });
    const files = this.filesOf(store, info.thumbprint);
    const full: CertProperties = {
      exportable: props.exportable ?? true,
      keyAcl: props.keyAcl ?? (pair.keyPem ? [this.serviceAccount] : []),
      ...(props.friendlyName !== undefined ? { friendlyName: props.friendlyName } : {}),
    };
    if (pair.keyPem) await writeAtomic(files.key, pair.keyPem, 0o600);
    else await rm(files.key, { force: true });
    await writeAtomic(files.json, JSON.stringify(full, null, 2) + '\n', 0o644);
    await writeAtomic(files.crt, info.pem, 0o644);
    return (await this.get(store, info.thumbprint))!;
  }

  // Import a PFX: checked first (a wrong password writes nothing), key marked exportable, the service account granted the key.
  // The same thumbprint is replaced, as on Windows; a PFX without a key keeps the key the store already had for that certificate.
  async importPfx(store: StoreRef, pfx: Buffer, password: string): Promise<StoredCert> {
    const { readPfx } = await import('../../certs/pfx.js'); // node-forge, slow to load: only when a PFX is read
    const contents = readPfx(pfx, password);
    const thumbprint = describeCert(contents.certPem).thumbprint;
    const keyPem = contents.keyPem ?? (await this.privateKeyPem(store, thumbprint));
    const props: Partial<CertProperties> = { exportable: true, keyAcl: keyPem ? [this.serviceAccount] : [] };
    if (contents.friendlyName !== undefined) props.friendlyName = contents.friendlyName;
    return this.put(store, { certPem: contents.certPem, keyPem }, props);
  }

  // Delete a certificate and its key and properties; a certificate that is not there is an error, as on Windows.
  async remove(store: StoreRef, thumbprint: string): Promise<void> {
    const files = this.filesOf(store, thumbprint);
    if ((await readIfExists(files.crt)) === null) {
      throw new CertError('NOT_FOUND', `no certificate ${normalizeThumbprint(thumbprint)} in ${storeLabelWithUser(this.resolveStore(store))}`);
    }
    await rm(files.key, { force: true });
    await rm(files.json, { force: true });
    await rm(files.crt, { force: true });
  }
}
