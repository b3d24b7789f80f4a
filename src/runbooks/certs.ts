// `qsadmin certs export|import|check`: the site's certificate sets out of and into the stores (guide §5.1), and the checks of §6.1.
import { localPrivateFiles } from '../host/private-files.js';
import { checkedBuild, requireElevated, requireStores } from './operator-checks.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readSecret } from '../cli/secrets.js';
import { checkCertificates, findSiteCa, hasErrors, type Finding, type NodeCertStores } from '../certs/check.js';
import { daysUntil, qlikContext, qlikRoleOf } from '../certs/classify.js';
import { exportCertificateSet, exportMatchesStores, qlikStores, removeStaleTemps } from '../certs/export.js';
import {
  conflictsError, exportSafetyCopy, findConflicts, importIntoStores, localCopiesMatch, removeCertificates, requireValidSet,
  safetyCopyComplete, setInstalled, writeLocalCopies, type LoadedSet,
} from '../certs/import.js';
import { commonName } from '../certs/inspect.js';
import { readPfx } from '../certs/pfx.js';
import { storeLabel } from '../certs/qlik.js';
import type { Host } from '../host/types.js';
import { QrsClient } from '../qrs/client.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import { checkFolderTarget } from '../host/private-files.js';
import type { Runbook, Step, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, findNode, type NodeConfig, type SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES, QRS_API_PORT } from '../site/services.js';
import type { BuildEnv } from './registry.js';
import { hostPool, siteLockKey, startNodeOrder, startServiceSteps, stopServiceSteps, waitRepositoryStep, type HostsContext } from './service-steps.js';

export const DEFAULT_PASSWORD_ENV = 'QSADMIN_CERT_PASSWORD';
const MIN_PASSWORD = 8;

export const NOT_A_BACKUP =
  'an export through QRS (certificatedistribution/exportcertificates) is for distributing certificates to other machines; ' +
  'it is NOT a backup: it carries no QlikServiceCluster certificate and nothing says it holds the CA\'s private key. ' +
  'Back up with `qsadmin certs export` (from the stores) instead.';

export interface CertsExportInputs {
  sitePath: string;
  /** Folder of the export: one sub-folder per node. */
  to: string;
  node?: string;
  passwordEnv: string;
  /** 'stores' (default, a backup) or 'qrs' (distribution package from QRS, not a backup). */
  via?: 'stores' | 'qrs';
}

export interface CertsImportInputs {
  sitePath: string;
  /** The folder given: a set, an export with node folders, or a backup set. */
  source: string;
  /** The node to import into (name). */
  node: string;
  passwordEnv: string;
  replace?: boolean;
  /** Stop the node's Qlik services before and start them (and check QRS) after; false = --no-start. */
  start?: boolean;
  /** The set comes from another hostname (restore to a new hostname, guide §5.7). */
  hostnameRestore?: boolean;
  timeoutMs?: number;
}

export interface CertsContext extends HostsContext {
  password: string;
}

interface ImportContext extends CertsContext {
  /** The validated set (loaded once per run). */
  set(): Promise<LoadedSet>;
}

// Read the PFX password from its variable (or a prompt on a terminal); too short a password is refused.
export async function readCertPassword(env: string, interactive: boolean): Promise<string> {
  const password = await readSecret({ label: 'certificate (PFX) password', env, flag: '--password-env', runTimeOnly: true }, interactive);
  if (password.length < MIN_PASSWORD) {
    throw new InputError(`the certificate password in ${env} is shorter than ${MIN_PASSWORD} characters`, 'it protects the private keys of the site: choose a longer one');
  }
  return password;
}

// The hostname Qlik knows a node by: Host.cfg (base64), else the site config's hostname.
export async function qlikHostnameOf(host: Host, node: NodeConfig): Promise<{ hostname: string; source: 'Host.cfg' | 'site config' }> {
  try {
    if (await host.files.exists(host.paths.hostCfg)) {
      const text = (await host.files.read(host.paths.hostCfg)).toString('utf8').trim();
      if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
        const name = Buffer.from(text, 'base64').toString('utf8').trim();
        if (name) return { hostname: name, source: 'Host.cfg' };
      }
    }
  } catch {
    // unreadable Host.cfg: fall back to the config
  }
  return { hostname: node.hostname, source: 'site config' };
}

// The opened hosts of a site and a context builder that adds the password.
async function certsContext(site: SiteConfig, password: string) {
  const { openHost } = await import('../host/index.js');
  const pool = hostPool(site, openHost);
  return { pool, context: (b: StepContext): CertsContext => ({ ...b, site, host: pool.host, password }) };
}

// One export step per node: the set from the stores into <to>/<node>/ (skipped on resume when the files are intact).
function exportNodeStep(n: NodeConfig, to: string): Step<CertsContext> {
  const dir = path.join(to, n.name);
  return {
    id: `certs.export.${n.name}`,
    title: `Export the certificate set from the stores to ${dir}`,
    node: n.name,
    check: async (ctx) => {
      if (!(await exportMatchesStores(await ctx.host(n.name), ctx.site.serviceAccount, dir))) return false;
      try {
        readPfx(await readFile(path.join(dir, 'server.pfx')), ctx.password);
        return true;
      } catch {
        return false;
      }
    },
    run: async (ctx) => {
      const host = await ctx.host(n.name);
      await localPrivateFiles.mkdirPrivate(to);
      const r = await exportCertificateSet(host, ctx.site.serviceAccount, ctx.password, dir, { isCentral: n.role === 'central' });
      for (const w of r.warnings) ctx.log(`warning: ${w}`);
      ctx.outputs.set(`certs.export.${n.name}`, { dir: r.dir, files: r.files.map((f) => ({ rel: f.rel, bytes: f.bytes, sha256: f.sha256 })), warnings: r.warnings });
    },
  };
}

// A QRS client on a node with PEM material.
function qrsOn(n: NodeConfig, servername: string, auth: { certPem: string; keyPem: string; caPem: string }): QrsClient {
  return new QrsClient({ host: n.address, port: QRS_API_PORT + (n.portOffset ?? 0), servername, auth });
}

// The QRS export step: POST certificatedistribution/exportcertificates, then copy what it wrote on the central node into <to>/<machine>/.
function exportViaQrsStep(site: SiteConfig, nodes: NodeConfig[], to: string): Step<CertsContext> {
  const central = centralNode(site);
  return {
    id: 'certs.export.qrs',
    title: `Ask QRS to export certificates for ${nodes.map((n) => n.hostname).join(', ')} (distribution, not a backup)`,
    node: central.name,
    run: async (ctx) => {
      const host = await ctx.host(central.name);
      const pem = async (f: string) => (await host.files.read(path.win32.join(host.paths.localCertificates, f))).toString('utf8');
      const { hostname } = await qlikHostnameOf(host, central);
      const qrs = qrsOn(central, hostname, { certPem: await pem('client.pem'), keyPem: await pem('client_key.pem'), caPem: await pem('root.pem') });
      try {
        const machineNames = nodes.map((n) => n.hostname);
        const folder = await qrs.post<string>('/qrs/certificatedistribution/exportcertificates', { machineNames, certificatePassword: ctx.password, includeSecretsKey: true, exportFormat: 0 });
        const base = typeof folder === 'string' && folder ? folder.replace(/^"|"$/g, '') : host.paths.exportedCertificates;
        await localPrivateFiles.mkdirPrivate(to);
        const copied: string[] = [];
        for (const m of machineNames) {
          const src = path.win32.join(base, m);
          await localPrivateFiles.mkdirPrivate(path.join(to, m));
          await removeStaleTemps(path.join(to, m));
          for await (const f of host.files.walk(src)) {
            const rel = path.win32.relative(src, f.path).split('\\').join('/');
            await localPrivateFiles.writePrivate(path.join(to, m, rel), await host.files.read(f.path));
            copied.push(`${m}/${rel}`);
          }
        }
        ctx.log(NOT_A_BACKUP);
        ctx.outputs.set('certs.export.qrs', { folder: base, files: copied, note: NOT_A_BACKUP });
      } finally {
        qrs.close();
      }
    },
  };
}

// Build the export runbook: per node, the whole set from the stores (or one QRS distribution export with via=qrs).
export async function buildCertsExport(inputs: CertsExportInputs, env: BuildEnv): Promise<Runbook<CertsContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const nodes = inputs.node ? [findNode(site, inputs.node)] : startNodeOrder(site);
  const to = path.resolve(inputs.to);
  // A file, a read-only place or a folder of another account as --to is bad input, found before anything runs.
  checkFolderTarget(to);
  const password = await readCertPassword(inputs.passwordEnv, env.interactive);
  const { pool, context } = await certsContext(site, password);
  const via = inputs.via ?? 'stores';
  if (via === 'stores') await checkedBuild(pool, () => requireStores(pool.host, nodes, qlikStores(site.serviceAccount), 'qsadmin certs export'));
  const notes = via === 'qrs'
    ? [NOT_A_BACKUP]
    : [`certificates are exported from the stores as ${site.serviceAccount} with their private keys into ${to}/<node>/ (folders 0700, files 0600)`, 'keep the password apart from the files: without these certificates every encrypted data-connection password is lost'];
  return {
    name: 'certs.export',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs, to },
    secrets: [password],
    notes,
    items: via === 'qrs' ? [exportViaQrsStep(site, nodes, to)] : nodes.map((n) => exportNodeStep(n, to)),
    context,
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}

// Qlik services of a node that are not stopped.
async function runningQlikServices(host: Host): Promise<string[]> {
  const list = await host.services.list();
  return list.filter((s) => (ALL_QLIK_SERVICES as string[]).includes(s.name) && s.state !== 'stopped' && s.state !== 'absent').map((s) => `${s.name} (${s.state})`);
}

// Validate the set and the node (always re-run on resume): set errors, running services with --no-start, existing certificates without --replace.
function validateStep(n: NodeConfig, inputs: CertsImportInputs, setDir: string): Step<ImportContext> {
  return {
    id: `certs.import.${n.name}.validate`,
    title: `Validate the set in ${setDir} (password, keys, extensions, expiry, chain) and the target stores`,
    node: n.name,
    check: async () => false,
    run: async (ctx) => {
      const set = await ctx.set();
      const host = await ctx.host(n.name);
      if (inputs.start === false) {
        const running = await runningQlikServices(host);
        if (running.length > 0) {
          throw new InputError(`--no-start imports only into a node whose Qlik services are stopped; on ${n.name} these run: ${running.join(', ')}`,
            `stop them first (qsadmin services stop --node ${n.name}), or leave out --no-start to stop and start them around the import`);
        }
      }
      const conflicts = await findConflicts(host, set, ctx.site.serviceAccount);
      if (conflicts.length > 0 && !inputs.replace) throw conflictsError(host, conflicts);
      ctx.log(`set for ${set.hostname} (CA ${set.ca.subject}, ${set.certs.length} files); ${conflicts.length} Qlik certificate(s) to replace`);
    },
  };
}

// The folder replaced certificates are exported to: inside the run's directory (kept with the journal).
function safetyDirOf(ctx: StepContext, n: NodeConfig): string {
  return path.join(ctx.runDir, 'replaced-certificates', n.name);
}

// --replace: export the Qlik certificates now in the stores, then remove them.
function replaceSteps(n: NodeConfig): Step<ImportContext>[] {
  return [
    {
      id: `certs.import.${n.name}.safety-export`,
      title: 'Export the Qlik certificates now in the stores to a safety folder (same password)',
      node: n.name,
      destructive: true,
      check: async (ctx) => {
        const conflicts = await findConflicts(await ctx.host(n.name), await ctx.set(), ctx.site.serviceAccount);
        return conflicts.length === 0 || safetyCopyComplete(safetyDirOf(ctx, n), conflicts);
      },
      run: async (ctx) => {
        const host = await ctx.host(n.name);
        const conflicts = await findConflicts(host, await ctx.set(), ctx.site.serviceAccount);
        const r = await exportSafetyCopy(host, conflicts, ctx.password, safetyDirOf(ctx, n));
        ctx.log(`exported ${conflicts.length} certificate(s) to ${r.dir}`);
        ctx.outputs.set(`certs.import.${n.name}.safetyDir`, r.dir);
      },
    },
    {
      id: `certs.import.${n.name}.remove`,
      title: 'Remove the replaced Qlik certificates from the stores',
      node: n.name,
      destructive: true,
      check: async (ctx) => (await findConflicts(await ctx.host(n.name), await ctx.set(), ctx.site.serviceAccount)).length === 0,
      run: async (ctx) => {
        const host = await ctx.host(n.name);
        const conflicts = await findConflicts(host, await ctx.set(), ctx.site.serviceAccount);
        if (!(await safetyCopyComplete(safetyDirOf(ctx, n), conflicts))) {
          throw new Error(`refusing to remove certificates that are not in the safety folder ${safetyDirOf(ctx, n)}: resume the run so the safety export runs again`);
        }
        for (const r of await removeCertificates(host, conflicts)) ctx.log(`removed ${r.subject} (${r.thumbprint}) from ${r.store}`);
      },
    },
  ];
}

// Import into the stores, then the PEM copies.
function importSteps(n: NodeConfig): Step<ImportContext>[] {
  return [
    {
      id: `certs.import.${n.name}.stores`,
      title: 'Import the set into LocalMachine\\Root, CurrentUser\\Root, LocalMachine\\My and CurrentUser\\My (keys exportable, service account granted)',
      node: n.name,
      check: async (ctx) => setInstalled(await ctx.host(n.name), await ctx.set(), ctx.site.serviceAccount),
      run: async (ctx) => {
        const host = await ctx.host(n.name);
        const set = await ctx.set();
        const conflicts = await findConflicts(host, set, ctx.site.serviceAccount);
        if (conflicts.length > 0) throw conflictsError(host, conflicts);
        const imported = await importIntoStores(host, set, ctx.password, ctx.site.serviceAccount);
        for (const c of imported) ctx.log(`imported ${c.subject} (${c.thumbprint}) into ${c.store} from ${c.file}`);
        ctx.outputs.set(`certs.import.${n.name}.imported`, imported);
      },
    },
    {
      id: `certs.import.${n.name}.pem`,
      title: 'Write the PEM copies to Exported Certificates\\.Local Certificates',
      node: n.name,
      check: async (ctx) => localCopiesMatch(await ctx.host(n.name), await ctx.set()),
      run: async (ctx) => {
        const host = await ctx.host(n.name);
        const written = await writeLocalCopies(host, await ctx.set());
        ctx.log(`wrote ${written.join(', ')}`);
        ctx.outputs.set(`certs.import.${n.name}.pem`, { folder: host.paths.localCertificates, files: written });
      },
    },
  ];
}

// Check that QRS on the node answers GET /qrs/about over mTLS with the imported client certificate.
function verifyQrsStep(n: NodeConfig): Step<ImportContext> {
  return {
    id: `certs.import.${n.name}.verify-qrs`,
    title: 'Check that QRS answers GET /qrs/about over mTLS with the imported client certificate',
    node: n.name,
    run: async (ctx) => {
      const set = await ctx.set();
      const client = set.certs.find((c) => c.role === 'client')!;
      const qrs = qrsOn(n, set.hostname, { certPem: client.contents.certPem, keyPem: client.contents.keyPem!, caPem: set.ca.pem });
      let last: unknown;
      try {
        for (let attempt = 0; attempt < 5; attempt++) {
          try {
            const about = await qrs.about();
            ctx.log(`QRS ${qrs.where} accepted the imported client certificate (build ${about.buildVersion})`);
            return;
          } catch (e) {
            last = e;
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      } finally {
        qrs.close();
      }
      throw new VerificationError(`QRS on ${n.name} did not accept the imported client certificate: ${(last as Error).message}`,
        `see ${(await ctx.host(n.name)).paths.logDir}\\Repository\\System; QRS may have rejected the imported set at start (duplicates, a second root)`);
    },
  };
}

// Build the import runbook for one node: validate → (stop) → (safety export, remove) → import → PEM copies → (start, wait, QRS check).
export async function buildCertsImport(inputs: CertsImportInputs, env: BuildEnv): Promise<Runbook<ImportContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const n = findNode(site, inputs.node);
  const { resolveSetDir } = await import('../certs/import.js');
  const setDir = await resolveSetDir(inputs.source, n);
  const password = await readCertPassword(inputs.passwordEnv, env.interactive);
  const base = await certsContext(site, password);
  await checkedBuild(base.pool, async () => {
    await requireElevated(base.pool.host, [n], 'qsadmin certs import');
    await requireStores(base.pool.host, [n], qlikStores(site.serviceAccount), 'qsadmin certs import');
  });
  const start = inputs.start !== false;
  let loaded: Promise<LoadedSet> | undefined;
  const context = (b: StepContext): ImportContext => {
    const ctx = base.context(b);
    const set = async () => {
      const host = await ctx.host(n.name);
      const { hostname } = await qlikHostnameOf(host, n);
      const r = await requireValidSet(setDir, password, { expectHostname: hostname, allowOtherHost: inputs.hostnameRestore, requireRootKey: n.role === 'central' });
      for (const w of r.warnings) b.log(`warning: ${w}`);
      return r.set;
    };
    return { ...ctx, set: () => (loaded ??= set()) };
  };
  const items: Step<ImportContext>[] = [validateStep(n, inputs, setDir)];
  if (start) items.push(...stopServiceSteps<ImportContext>(n, { timeoutMs: inputs.timeoutMs }));
  // Removing and importing is one section: a signal once it began lets it finish; the services start after a signal.
  const section = [...(inputs.replace ? replaceSteps(n) : []), ...importSteps(n)];
  items.push(...section.map((s) => ({ ...s, onInterrupt: { after: section[0].id } })));
  if (start) {
    const back = [...startServiceSteps<ImportContext>(n, { timeoutMs: inputs.timeoutMs }), waitRepositoryStep<ImportContext>(n, { timeoutMs: inputs.timeoutMs })];
    items.push(...back.map((s) => ({ ...s, onInterrupt: 'run' as const })), verifyQrsStep(n));
  }
  const notes = [
    `set: ${setDir}`,
    start ? `the Qlik services of ${n.name} are stopped before and started after the import` : `--no-start: the Qlik services of ${n.name} must be stopped and stay stopped (as a restore needs)`,
  ];
  if (inputs.replace) notes.push('--replace: Qlik certificates already in the stores are exported to the run folder (replaced-certificates/) with the same password, then removed');
  if (inputs.hostnameRestore) notes.push('--hostname-restore: a set made for another hostname is accepted');
  return {
    name: 'certs.import',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs, source: path.resolve(inputs.source) },
    secrets: [password],
    notes,
    items,
    context,
    dispose: () => base.pool.closeAll(),
    close: () => base.pool.closeAll(),
  };
}

/** One certificate row of `certs check`. */
export interface CertRow {
  store: string;
  role: string;
  subject: string;
  thumbprint: string;
  notAfter: string;
  daysLeft: number;
  status: 'ok' | 'warning' | 'error';
}

export interface NodeCheck {
  node: string;
  hostname: string;
  hostnameSource: 'Host.cfg' | 'site config';
  certificates: CertRow[];
}

export interface CertsCheckResult {
  nodes: NodeCheck[];
  findings: Finding[];
  ok: boolean;
}

// Read the four stores and the Qlik hostname of a node.
async function nodeStores(site: SiteConfig, n: NodeConfig, host: Host): Promise<{ stores: NodeCertStores; source: NodeCheck['hostnameSource'] }> {
  const { hostname, source } = await qlikHostnameOf(host, n);
  const stores = await Promise.all(qlikStores(site.serviceAccount).map(async (store) => ({ store, certs: await host.certs.list(store) })));
  return { stores: { node: n.name, hostname, isCentral: n.role === 'central', stores }, source };
}

// The worst finding level of one certificate.
function statusOf(findings: Finding[], node: string, store: string, thumbprint: string): CertRow['status'] {
  const mine = findings.filter((f) => f.node === node && f.store === store && f.thumbprint === thumbprint);
  if (mine.some((f) => f.level === 'error')) return 'error';
  return mine.some((f) => f.level === 'warning') ? 'warning' : 'ok';
}

// Check every certificate in every location on every node (or one node): read-only, no lock, no services touched.
export async function checkSiteCertificates(site: SiteConfig, opts: { node?: string; warnDays?: number; now?: Date } = {}): Promise<CertsCheckResult> {
  const { openHost } = await import('../host/index.js');
  const nodes = opts.node ? [findNode(site, opts.node)] : startNodeOrder(site);
  const all: Array<{ stores: NodeCertStores; source: NodeCheck['hostnameSource'] }> = [];
  for (const n of nodes) {
    const host = await openHost(site, n.name);
    try {
      all.push(await nodeStores(site, n, host));
    } finally {
      await host.close();
    }
  }
  const now = opts.now ?? new Date();
  const findings = checkCertificates(all.map((a) => a.stores), { warnDays: opts.warnDays ?? 60, now });
  const ca = findSiteCa(all.map((a) => a.stores));
  const caName = ca ? commonName(ca.subject) : null;
  const result: NodeCheck[] = all.map(({ stores: s, source }) => {
    const ctx = qlikContext(s.hostname, caName);
    const certificates = s.stores.flatMap((st) =>
      st.certs.flatMap((c) => {
        const role = qlikRoleOf(c, st.store, ctx);
        if (role === null) return [];
        const store = storeLabel(st.store);
        return [{ store, role, subject: c.subject, thumbprint: c.thumbprint, notAfter: c.notAfter.toISOString(), daysLeft: daysUntil(c.notAfter, now), status: statusOf(findings, s.node, store, c.thumbprint) }];
      }),
    );
    return { node: s.node, hostname: s.hostname, hostnameSource: source, certificates };
  });
  return { nodes: result, findings, ok: !hasErrors(findings) };
}

// Pad cells into aligned columns.
function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
}

// The text report of `certs check`: one table row per certificate, then the findings with their fixes.
export function formatCheck(r: CertsCheckResult): string {
  const lines: string[] = [];
  for (const n of r.nodes) {
    lines.push(`${n.node} (${n.hostname}, from ${n.hostnameSource})`);
    const rows = [['STORE', 'ROLE', 'SUBJECT', 'THUMBPRINT', 'NOT AFTER', 'DAYS', 'STATUS']];
    for (const c of n.certificates) rows.push([c.store, c.role, c.subject, c.thumbprint, c.notAfter.slice(0, 10), String(c.daysLeft), c.status.toUpperCase()]);
    if (rows.length === 1) lines.push('  (no Qlik certificate in any store)');
    else lines.push(...table(rows).map((l) => `  ${l}`));
    lines.push('');
  }
  const problems = r.findings.filter((f) => f.level !== 'ok');
  for (const f of problems) {
    lines.push(`${f.level.toUpperCase()} [${f.code}] ${f.node}: ${f.message}`);
    if (f.fix) lines.push(`  fix: ${f.fix}`);
  }
  const errors = problems.filter((f) => f.level === 'error').length;
  lines.push(r.ok ? `certificates ok${problems.length ? ` (${problems.length} warning(s))` : ''}` : `${errors} error(s), ${problems.length - errors} warning(s)`);
  return lines.join('\n');
}
