// `qsadmin site check`: is this site config right for the site it names? The file first (types, unknown keys:
// loadSiteConfig), then every node reached through its driver, then the repository database and what QSR says
// about the nodes and the share, and each backup repository the config lists (reachable, its passphrase). Read-only:
// the safe first command on a real server.
import { InputError } from '../runbook/errors.js';
import { withClient } from '../postgres/client.js';
import type { Host } from '../host/types.js';
import { centralNode, type RepositoryConfig, type SiteConfig } from './model.js';
import { databasePassword, superuserConn } from './database.js';
import { readShareFolders } from './share.js';

export interface SiteFinding {
  /** The config key the finding is about, e.g. "nodes[1]" or "database.port". */
  key: string;
  ok: boolean;
  message: string;
}

export interface SiteCheckResult {
  site: string;
  ok: boolean;
  findings: SiteFinding[];
}

type OpenHost = (site: SiteConfig, node: string) => Promise<Host>;

/** Check reachability of every node and the database, and the config against QSR. Never throws for a finding. */
export async function checkSite(site: SiteConfig, openHost: OpenHost, opts: { interactive?: boolean; timeoutMs?: number } = {}): Promise<SiteCheckResult> {
  const findings: SiteFinding[] = [];
  const add = (key: string, ok: boolean, message: string) => findings.push({ key, ok, message });
  const within = <T>(p: Promise<T>, what: string) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer from ${what} within ${(opts.timeoutMs ?? 15_000) / 1000} s`)), opts.timeoutMs ?? 15_000).unref())]);

  for (const [i, n] of site.nodes.entries()) {
    const key = `nodes[${i}]`;
    let host: Host | undefined;
    try {
      host = await within(openHost(site, n.name), `node ${n.name}`);
      const list = await within(host.services.list(), `node ${n.name}`);
      const absent = list.filter((s) => s.state === 'absent').map((s) => s.name);
      const running = list.filter((s) => s.state === 'running').length;
      if (absent.length) add(`${key}.services`, false, `${n.name} (${n.hostname}) has no service ${absent.join(', ')}: list the node's services in "services", or check that Qlik Sense is installed there`);
      else add(key, true, `${n.name} (${n.hostname}) reached: ${running} of ${list.length} services running`);
      const hostCfg = await within(host.files.read(host.paths.hostCfg), `Host.cfg of ${n.name}`).catch(() => null);
      if (hostCfg) {
        const named = Buffer.from(hostCfg.toString('utf8').trim(), 'base64').toString('utf8');
        if (named.toLowerCase() !== n.hostname.toLowerCase()) add(`${key}.hostname`, false, `Host.cfg on ${n.name} names ${named}, the config says ${n.hostname}: set "hostname" to the name Qlik uses`);
      } else add(`${key}.hostname`, false, `cannot read Host.cfg on ${n.name} (${host.paths.hostCfg}): is this a Qlik Sense node, and may qsadmin read ProgramData there?`);
    } catch (e) {
      add(key, false, `${n.name} (${n.hostname}) is not reachable: ${(e as Error).message}`);
    } finally {
      await host?.close().catch(() => undefined);
    }
  }

  let password: string | undefined;
  try {
    password = await databasePassword(site, opts.interactive);
  } catch (e) {
    add('database.passwordEnv', false, `${(e as Error).message}${e instanceof InputError && e.hint ? ` (${e.hint})` : ''}`);
  }
  if (password !== undefined) {
    const conn = superuserConn(site, password);
    try {
      const version = await within(withClient(conn, async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v), 'the database');
      add('database', true, `PostgreSQL ${version} at ${site.database.host}:${site.database.port}`);
      const qsrNodes = await within(withClient({ ...conn, database: 'QSR' }, async (c) => (await c.query<{ HostName: string; IsCentral: boolean }>('SELECT "HostName", "IsCentral" FROM "ServerNodeConfigurations"')).rows), 'QSR');
      const configured = new Set(site.nodes.map((n) => n.hostname.toLowerCase()));
      for (const q of qsrNodes) if (!configured.has(q.HostName.toLowerCase())) add('nodes', false, `QSR has a node ${q.HostName} that the config does not list: add it to "nodes" (or remove it from the site in the QMC)`);
      for (const [i, n] of site.nodes.entries()) if (!qsrNodes.some((q) => q.HostName.toLowerCase() === n.hostname.toLowerCase())) add(`nodes[${i}].hostname`, false, `${n.hostname} is not a node of this site in QSR (ServerNodeConfigurations)`);
      const central = qsrNodes.find((q) => q.IsCentral);
      if (central && central.HostName.toLowerCase() !== centralNode(site).hostname.toLowerCase()) add('nodes', false, `QSR's central node is ${central.HostName}, the config's is ${centralNode(site).hostname}: set "role": "central" on it`);
      const share = await within(readShareFolders(conn), 'QSR');
      if (share.root.replace(/[\\/]+$/, '').toLowerCase() !== site.shareRoot.replace(/[\\/]+$/, '').toLowerCase()) add('shareRoot', false, `QSR's share root is ${share.root}, the config says ${site.shareRoot}: set "shareRoot" to it`);
      else add('shareRoot', true, `share root ${share.root}`);
    } catch (e) {
      add('database', false, `the repository database at ${site.database.host}:${site.database.port} is not usable: ${(e as Error).message}`);
    }
  }
  for (const [i, r] of (site.repositories ?? []).entries()) add(...(await checkRepositoryEntry(r, `repositories[${i}]`, within)));
  return { site: site.name, ok: findings.every((f) => f.ok), findings };
}

// One configured repository: reachable, a qsadmin repository (or not created yet), its passphrase opens its key.
async function checkRepositoryEntry(r: RepositoryConfig, key: string, within: <T>(p: Promise<T>, what: string) => Promise<T>): Promise<[string, boolean, string]> {
  const { configuredTarget } = await import('../backup/repo/target.js');
  const { Repository, UnreachableError } = await import('../backup/repo/repository.js');
  const t = configuredTarget(r);
  try {
    const repo = await within(Repository.open(t.url, { passphraseEnv: t.passphraseEnv }), `repository ${r.name}`);
    const sets = await within(repo.listSets(), `repository ${r.name}`);
    const complete = sets.filter((x) => x.complete);
    return [key, true, `${r.name}: ${repo.url}, format 2, ${repo.encrypted ? `encrypted (passphrase from ${t.passphraseEnv} opens its key)` : 'NOT encrypted'}; ${complete.length} set(s)${complete[0] ? `, newest ${complete[0].id}` : ''}`];
  } catch (e) {
    const err = e as InputError;
    if (err instanceof UnreachableError) return [`${key}.url`, false, `${r.name} cannot be reached: ${err.message} (${err.hint})`];
    if (err instanceof InputError && /is not a qsadmin repository/.test(err.message)) return [key, true, `${r.name}: ${parseUrl(t.url)} holds no repository yet: the first backup to it creates it (${t.encrypt ? `encrypted, passphrase from ${t.passphraseEnv}` : 'NOT encrypted'})`];
    if (err instanceof InputError && /passphrase/.test(err.message)) return [`${key}.passphraseEnv`, false, `${r.name}: ${err.message}${err.hint ? ` (${err.hint})` : ''}`];
    return [key, false, `${r.name}: ${err.message}`];
  }
}

const parseUrl = (u: string) => u.replace(/\?.*$/, '');
