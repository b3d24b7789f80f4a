// The certificate stores of a Windows node. LocalMachine stores are open to an elevated caller. The service
// account's CurrentUser stores are open only to a process running as that account: when qsadmin runs as it, the
// session's own CurrentUser; otherwise a scheduled task as the account, with its password from the environment
// variable the site names (DESIGN: certificates are exported and imported as the service account).
import { randomBytes } from 'node:crypto';
import { describeCert, normalizeThumbprint } from '../../certs/inspect.js';
import { InputError } from '../../runbook/errors.js';
import type { CertStore, Identity, StoreRef, StoredCert } from '../types.js';
import { AS_ACCOUNT } from './ps/as-account.js';
import { CERT_EXPORT, CERT_IMPORT, CERT_LIST, CERT_REMOVE } from './ps/certs.js';
import type { PsScript } from './ps/script.js';
import type { PsSession } from './session.js';

export const SERVICE_ACCOUNT_PASSWORD_ENV = 'QSADMIN_SERVICE_ACCOUNT_PASSWORD';

interface Row {
  thumbprint: string;
  hasPrivateKey: boolean;
  der: string;
}

/** "DOMAIN\user", "user@domain" and ".\user" name one account whatever their case. */
export function sameAccount(a: string, b: string): boolean {
  const norm = (s: string) => {
    const x = s.trim().toLowerCase();
    if (x.includes('@')) return x.split('@')[0];
    return x.includes('\\') ? x.slice(x.lastIndexOf('\\') + 1) : x;
  };
  return norm(a) === norm(b);
}

export class WindowsCertStore implements CertStore {
  constructor(
    private readonly session: PsSession,
    private readonly serviceAccount: string,
    /** Who qsadmin runs as on the node (the host's machine.identity, asked once per session). */
    private readonly identity: () => Promise<Identity>,
    private readonly passwordEnv = SERVICE_ACCOUNT_PASSWORD_ENV,
  ) {}

  private resolve(store: StoreRef): StoreRef {
    return store.location === 'LocalMachine' ? { location: 'LocalMachine', name: store.name } : { location: 'CurrentUser', name: store.name, user: store.user ?? this.serviceAccount };
  }

  /** Run a store script where the store is open: in the session, or as the store's account. */
  private async run<T>(store: StoreRef, script: PsScript, args: Record<string, unknown>): Promise<T> {
    const s = this.resolve(store);
    const full = { Location: s.location, Name: s.name, ...args };
    if (s.location === 'LocalMachine') return this.session.run<T>(script, full);
    const me = await this.identity();
    if (sameAccount(me.user, s.user!)) return this.session.run<T>(script, full);
    const password = process.env[this.passwordEnv];
    if (!password) {
      throw new InputError(
        `the CurrentUser stores of ${s.user} are open only to a process running as ${s.user}, and qsadmin runs as ${me.user}`,
        `run qsadmin as ${s.user}, or set ${this.passwordEnv} to its password (a scheduled task then runs as that account)`,
      );
    }
    return this.session.run<T>(AS_ACCOUNT, {
      Account: s.user,
      Password: password,
      Script: script.text,
      Arguments: full,
      TaskName: `qsadmin-${script.name}-${randomBytes(4).toString('hex')}`,
      TimeoutMs: 120_000,
    });
  }

  async reachable(store: StoreRef): Promise<string | null> {
    const s = this.resolve(store);
    const me = await this.identity();
    if (s.location === 'LocalMachine') return me.elevated ? null : `LocalMachine\\${s.name} needs an elevated process and ${me.user} runs qsadmin without an administrator token`;
    if (sameAccount(me.user, s.user!) || process.env[this.passwordEnv]) return null;
    return `the CurrentUser\\${s.name} store of ${s.user} is open only to a process running as ${s.user} (qsadmin runs as ${me.user}): run as ${s.user}, or set ${this.passwordEnv} to its password`;
  }

  private toStored(store: StoreRef, r: Row): StoredCert {
    const info = describeCert(Buffer.from(r.der, 'base64'));
    return {
      store: this.resolve(store),
      thumbprint: normalizeThumbprint(r.thumbprint),
      subject: info.subject,
      issuer: info.issuer,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      hasPrivateKey: r.hasPrivateKey,
      qlikExtension: info.qlikExtension,
      der: info.der,
    };
  }

  async list(store: StoreRef): Promise<StoredCert[]> {
    const rows = await this.run<Row[]>(store, CERT_LIST, {});
    return rows.map((r) => this.toStored(store, r)).sort((a, b) => a.thumbprint.localeCompare(b.thumbprint));
  }

  async exportPfx(store: StoreRef, thumbprint: string, password: string): Promise<Buffer> {
    const b64 = await this.run<string>(store, CERT_EXPORT, { Thumbprint: normalizeThumbprint(thumbprint), Password: password });
    return Buffer.from(b64, 'base64');
  }

  async importPfx(store: StoreRef, pfx: Buffer, password: string): Promise<StoredCert> {
    const row = await this.run<Row>(store, CERT_IMPORT, { Pfx: pfx.toString('base64'), Password: password, GrantTo: this.serviceAccount });
    return this.toStored(store, row);
  }

  async remove(store: StoreRef, thumbprint: string): Promise<void> {
    await this.run<boolean>(store, CERT_REMOVE, { Thumbprint: normalizeThumbprint(thumbprint) });
  }
}
