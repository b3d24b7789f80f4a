// `qsadmin certs renew`: the guide's §6.1 "Renew self-signed certificates after they expire" on the central node, in its
// order: (a verified export first) → stop all Qlik services but the repository database → delete the expired Qlik
// certificates from LocalMachine\My, LocalMachine\Root and QlikClient from the service account's CurrentUser\My →
// empty Exported Certificates → start the services (QRS makes a new set) → check the new set and /qrs/about → what
// must follow (data connections whose passwords are re-entered; rim nodes registered again, an inference).
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { qlikContext, qlikRoleOf, sameName } from '../certs/classify.js';
import { exportCertificateSet, qlikStores, readSetIndex, verifyExportedSet } from '../certs/export.js';
import { exportSafetyCopy, removeCertificates, safetyCopyComplete } from '../certs/import.js';
import { readPfx } from '../certs/pfx.js';
import { storeLabelWithUser } from '../certs/qlik.js';
import type { Host, StoreRef, StoredCert } from '../host/types.js';
import { localPrivateFiles } from '../host/private-files.js';
import { QrsClient } from '../qrs/client.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import type { Runbook, Step, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { centralNode, rimNodes, type NodeConfig } from '../site/model.js';
import { QRS_API_PORT } from '../site/services.js';
import { checkSiteCertificates, qlikHostnameOf, readCertPassword } from './certs.js';
import { checkedBuild, requireElevated, requireStores } from './operator-checks.js';
import type { BuildEnv } from './registry.js';
import { hostPool, siteLockKey, startServiceSteps, stopServiceSteps, waitRepositoryStep, type HostsContext } from './service-steps.js';

export interface CertsRenewInputs {
  sitePath: string;
  /** Renew every Qlik certificate of the central node, expired or not. */
  force?: boolean;
  passwordEnv: string;
  /** Where the verified export goes; default: the run's folder (certs-before-renew/). */
  to?: string;
  timeoutMs?: number;
}

interface RenewContext extends HostsContext {
  password: string;
}

/** One certificate the renewal removes, as recorded in the run's outputs (no key, no secret). */
export interface RenewTarget {
  store: StoreRef;
  thumbprint: string;
  subject: string;
  notAfter: string;
  role: string;
}

/** The stores §6.1 deletes from: LocalMachine\Personal, LocalMachine\Trusted Root, the service account's CurrentUser\Personal. */
export function renewStores(account: string): StoreRef[] {
  return [
    { location: 'LocalMachine', name: 'My' },
    { location: 'LocalMachine', name: 'Root' },
    { location: 'CurrentUser', name: 'My', user: account },
  ];
}

const sameStore = (a: StoreRef, b: StoreRef) => storeLabelWithUser(a) === storeLabelWithUser(b);

// The Qlik certificates of the central node in the §6.1 stores, with their role.
async function qlikCertificates(host: Host, hostname: string, account: string): Promise<Array<StoredCert & { role: string }>> {
  const ctx = qlikContext(hostname);
  const out: Array<StoredCert & { role: string }> = [];
  for (const store of renewStores(account)) {
    for (const c of await host.certs.list(store)) {
      const role = qlikRoleOf(c, store, ctx);
      if (role !== null) out.push({ ...c, store, role });
    }
  }
  return out;
}

/**
 * What to remove: with force every Qlik certificate; otherwise the expired ones and those issued by an expired Qlik CA
 * (they chain to a root that goes). QRS makes a new set only when none of the set is left (§6.1 "Certificate handling"),
 * so a partial expiry is refused with the way out (--force).
 */
export function chooseTargets(certs: Array<StoredCert & { role: string }>, now: Date, force: boolean): { targets: Array<StoredCert & { role: string }>; kept: Array<StoredCert & { role: string }> } {
  if (force) return { targets: certs, kept: [] };
  const expiredRoots = certs.filter((c) => c.role === 'root' && c.notAfter <= now);
  const goes = (c: StoredCert) => c.notAfter <= now || expiredRoots.some((r) => sameName(r.subject, c.issuer) || r.thumbprint === c.thumbprint);
  return { targets: certs.filter(goes), kept: certs.filter((c) => !goes(c)) };
}

const toTarget = (c: StoredCert & { role: string }): RenewTarget => ({ store: c.store, thumbprint: c.thumbprint, subject: c.subject, notAfter: c.notAfter.toISOString(), role: c.role });

// The folders of the safety copy: the whole set as `certs export` writes it, and each removed certificate on its own.
function safetyDirs(ctx: StepContext, inputs: CertsRenewInputs, central: NodeConfig): { root: string; set: string; removed: string } {
  const root = inputs.to ? path.resolve(inputs.to) : path.join(ctx.runDir, 'certs-before-renew');
  return { root, set: path.join(root, central.name), removed: path.join(root, 'removed') };
}

// The recorded targets (written by the validate step).
function targetsOf(ctx: StepContext): RenewTarget[] {
  return ctx.outputs.require<RenewTarget[]>('certs.renew.targets', 'certs.renew.validate');
}

// The stored certificates that are still in the stores among the recorded targets.
async function remainingTargets(host: Host, targets: RenewTarget[]): Promise<StoredCert[]> {
  const out: StoredCert[] = [];
  for (const t of targets) {
    const c = (await host.certs.list(t.store)).find((x) => x.thumbprint === t.thumbprint);
    if (c) out.push({ ...c, store: t.store });
  }
  return out;
}

// Every PFX of the exported set opens with the password, the checksums hold, and the index names the recorded thumbprints.
async function exportVerified(dir: string, password: string, mustHold: string[]): Promise<string[]> {
  const problems = await verifyExportedSet(dir);
  if (problems.length) return problems;
  const index = (await readSetIndex(dir)) ?? [];
  for (const e of index) {
    try {
      readPfx(await readFile(path.join(dir, e.file)), password);
    } catch (err) {
      problems.push(`${e.file} does not open with the password: ${(err as Error).message}`);
    }
  }
  for (const t of mustHold) if (!index.some((e) => e.thumbprint === t)) problems.push(`the export holds no certificate ${t}`);
  return problems;
}

// Step 0: refusals before anything changes (a rim mid-join, nothing expired, a partial expiry), and the targets recorded.
function validateStep(central: NodeConfig, inputs: CertsRenewInputs): Step<RenewContext> {
  return {
    id: 'certs.renew.validate',
    title: `Find the ${inputs.force ? '' : 'expired '}Qlik certificates on ${central.name} and check that no rim node is joining`,
    node: central.name,
    // once recorded, the targets stand: after the removal nothing expired is left to find
    check: async (ctx) => ctx.outputs.get('certs.renew.targets') !== undefined,
    run: async (ctx) => {
      for (const rim of rimNodes(ctx.site)) {
        const state = await (await ctx.host(rim.name)).services.repositoryState();
        if (state === 1) {
          throw new InputError(`rim node ${rim.name} is waiting for its certificates (servicestate 1: it is being joined to the site)`,
            'let the join finish (or cancel it) before renewing the central node\'s certificates: a new CA would leave the rim with a package from the old one');
        }
      }
      const host = await ctx.host(central.name);
      const { hostname } = await qlikHostnameOf(host, central);
      const certs = await qlikCertificates(host, hostname, ctx.site.serviceAccount);
      const now = new Date();
      const { targets, kept } = chooseTargets(certs, now, !!inputs.force);
      if (targets.length === 0) {
        const soonest = certs.map((c) => c.notAfter).sort((a, b) => a.getTime() - b.getTime())[0];
        throw new InputError(`no Qlik certificate on ${central.name} has expired${soonest ? ` (the first expires ${soonest.toISOString().slice(0, 10)})` : ' (none found in the stores)'}: nothing to renew`,
          'qsadmin certs check --warn-days 30 reports the days left; --force renews the whole set now');
      }
      if (kept.length > 0) {
        throw new InputError(`only part of the Qlik set on ${central.name} has expired (${targets.map((t) => t.subject).join(', ')}); still valid: ${kept.map((k) => `${k.subject} in ${storeLabelWithUser(k.store)}`).join(', ')}`,
          'QRS makes a new set only when none of the old one is left: renew with --force');
      }
      for (const t of targets) ctx.log(`to remove: ${t.subject} (${t.thumbprint}, ${t.role}) from ${storeLabelWithUser(t.store)}, not after ${t.notAfter.toISOString()}`);
      ctx.outputs.set('certs.renew.targets', targets.map(toTarget));
    },
  };
}

// Step 1: the verified safety copy: the set as `certs export` writes it, and each certificate to remove on its own.
function safetyStep(central: NodeConfig, inputs: CertsRenewInputs): Step<RenewContext> {
  return {
    id: 'certs.renew.safety-export',
    title: 'Export the certificate set and every certificate to remove (PFX with keys), then verify the export',
    node: central.name,
    check: async (ctx) => {
      const d = safetyDirs(ctx, inputs, central);
      const targets = targetsOf(ctx);
      if (!(await safetyCopyComplete(d.removed, targets.map((t) => ({ thumbprint: t.thumbprint, store: t.store }) as StoredCert)))) return false;
      return ctx.outputs.get('certs.renew.export') !== undefined && (await exportVerified(d.set, ctx.password, [])).length === 0;
    },
    run: async (ctx) => {
      const host = await ctx.host(central.name);
      const d = safetyDirs(ctx, inputs, central);
      const targets = targetsOf(ctx);
      const remaining = await remainingTargets(host, targets);
      if (remaining.length < targets.length) {
        // never re-export a half-removed set over the copy taken before the removal began
        throw new Error(`the safety copy in ${d.root} is incomplete and ${targets.length - remaining.length} certificate(s) are already removed: restore them from ${d.removed} (qsadmin certs import) before going on`);
      }
      await localPrivateFiles.mkdirPrivate(d.root);
      const r = await exportCertificateSet(host, ctx.site.serviceAccount, ctx.password, d.set, { isCentral: true });
      for (const w of r.warnings) ctx.log(`warning: ${w}`);
      await exportSafetyCopy(host, remaining, ctx.password, d.removed);
      const inSet = r.index.map((e) => e.thumbprint);
      const problems = await exportVerified(d.set, ctx.password, targets.map((t) => t.thumbprint).filter((t) => inSet.includes(t)));
      if (!(await safetyCopyComplete(d.removed, remaining))) problems.push(`${d.removed} does not hold every certificate to remove`);
      if (problems.length) throw new VerificationError(`the safety export in ${d.root} did not verify: ${problems.join('; ')}`, 'nothing was removed; free space or fix the target and run again');
      ctx.log(`exported and verified: ${r.files.length} file(s) in ${d.set}, ${remaining.length} certificate(s) in ${d.removed}`);
      ctx.outputs.set('certs.renew.export', { dir: d.root, set: d.set, removed: d.removed, files: r.files.map((f) => ({ rel: f.rel, sha256: f.sha256 })) });
    },
  };
}

// Step 3: delete the recorded certificates (only those, and only when each is in the safety copy).
function removeStep(central: NodeConfig, inputs: CertsRenewInputs): Step<RenewContext> {
  return {
    id: 'certs.renew.remove',
    title: `Delete the ${inputs.force ? '' : 'expired '}Qlik certificates from LocalMachine\\My, LocalMachine\\Root and QlikClient from CurrentUser\\My (nothing else)`,
    node: central.name,
    destructive: true,
    check: async (ctx) => (await remainingTargets(await ctx.host(central.name), targetsOf(ctx))).length === 0,
    run: async (ctx) => {
      const host = await ctx.host(central.name);
      const d = safetyDirs(ctx, inputs, central);
      const remaining = await remainingTargets(host, targetsOf(ctx));
      if (!(await safetyCopyComplete(d.removed, remaining))) {
        throw new Error(`refusing to remove certificates that are not in the safety copy ${d.removed}: resume the run so the export runs again`);
      }
      for (const r of await removeCertificates(host, remaining)) ctx.log(`removed ${r.subject} (${r.thumbprint}) from ${r.store}`);
    },
  };
}

// Step 4: empty Exported Certificates (the PEM copies of the old set; QRS writes the new ones).
function emptyExportedStep(central: NodeConfig): Step<RenewContext> {
  const files = async (host: Host) => {
    const out: string[] = [];
    try {
      for await (const f of host.files.walk(host.paths.exportedCertificates)) out.push(f.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return out;
  };
  return {
    id: 'certs.renew.empty-exported',
    title: 'Delete the contents of C:\\ProgramData\\Qlik\\Sense\\Repository\\Exported Certificates',
    node: central.name,
    destructive: true,
    check: async (ctx) => (await files(await ctx.host(central.name))).length === 0,
    run: async (ctx) => {
      const host = await ctx.host(central.name);
      const list = await files(host);
      for (const f of list) await host.files.remove(f);
      ctx.log(`deleted ${list.length} file(s) under ${host.paths.exportedCertificates}`);
    },
  };
}

// Step 6: the new set: certs check on the central node, new thumbprints, and /qrs/about over mTLS with the new client certificate.
function verifyStep(central: NodeConfig): Step<RenewContext> {
  return {
    id: 'certs.renew.verify',
    title: 'Check the new certificate set (certs check) and that QRS answers GET /qrs/about over mTLS with it',
    node: central.name,
    run: async (ctx) => {
      const host = await ctx.host(central.name);
      const old = new Set(targetsOf(ctx).map((t) => t.thumbprint));
      const check = await checkSiteCertificates(ctx.site, { node: central.name });
      const errors = check.findings.filter((f) => f.level === 'error');
      const mine = check.nodes[0]?.certificates ?? [];
      if (errors.length) throw new VerificationError(`the new certificate set on ${central.name} has problems: ${errors.map((e) => e.message).join('; ')}`, 'see qsadmin certs check');
      const reused = mine.filter((c) => old.has(c.thumbprint));
      if (reused.length || mine.length === 0) throw new VerificationError(`QRS did not make a new set on ${central.name}: ${mine.length === 0 ? 'no Qlik certificate in the stores' : `still there: ${reused.map((c) => c.subject).join(', ')}`}`);
      const { hostname } = await qlikHostnameOf(host, central);
      const pem = async (f: string) => (await host.files.read(path.win32.join(host.paths.localCertificates, f))).toString('utf8');
      const qrs = new QrsClient({ host: central.address, port: QRS_API_PORT + (central.portOffset ?? 0), servername: hostname, auth: { certPem: await pem('client.pem'), keyPem: await pem('client_key.pem'), caPem: await pem('root.pem') } });
      try {
        const about = await qrs.about();
        // QRS names the field `username` (and never returns the password); a connection with a user name stores credentials
        const connections = await qrs.get<Array<{ name: string; username?: string | null; userName?: string | null; password?: string | null }>>('/qrs/dataconnection/full');
        const withCredentials = connections.filter((c) => !!(c.username ?? c.userName) || !!c.password).map((c) => c.name).sort();
        ctx.log(`QRS ${qrs.where} answers with the new client certificate (build ${about.buildVersion})`);
        ctx.outputs.set('certs.renew.new', {
          certificates: mine.map((c) => ({ store: c.store, role: c.role, subject: c.subject, thumbprint: c.thumbprint, notAfter: c.notAfter })),
          dataConnectionsWithCredentials: withCredentials,
        });
        // for --json: what must follow, as the report prints it
        ctx.outputs.set('certs.renew.followUps', renewFollowUps({ 'certs.renew.new': { dataConnectionsWithCredentials: withCredentials } }, rimNodes(ctx.site)));
      } finally {
        qrs.close();
      }
    },
  };
}

// Build the renewal runbook for the central node.
export async function buildCertsRenew(inputs: CertsRenewInputs, env: BuildEnv): Promise<Runbook<RenewContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const central = centralNode(site);
  const password = await readCertPassword(inputs.passwordEnv, env.interactive);
  const { openHost } = await import('../host/index.js');
  const pool = hostPool(site, openHost);
  await checkedBuild(pool, async () => {
    await requireElevated(pool.host, [central], 'qsadmin certs renew');
    await requireStores(pool.host, [central], qlikStores(site.serviceAccount), 'qsadmin certs renew');
  });
  const t = { timeoutMs: inputs.timeoutMs, idPrefix: 'certs.renew.stop' };
  const start = [...startServiceSteps<RenewContext>(central, { timeoutMs: inputs.timeoutMs, idPrefix: 'certs.renew.start' }), waitRepositoryStep<RenewContext>(central, { timeoutMs: inputs.timeoutMs, idPrefix: 'certs.renew.wait' })];
  const section = [removeStep(central, inputs), emptyExportedStep(central)];
  const items: Step<RenewContext>[] = [
    validateStep(central, inputs),
    safetyStep(central, inputs),
    ...stopServiceSteps<RenewContext>(central, t),
    // the removal and the emptying belong together; once begun, a signal lets them finish and the services start
    ...section.map((s) => ({ ...s, onInterrupt: { after: section[0].id } })),
    ...start.map((s) => ({ ...s, onInterrupt: 'run' as const })),
    verifyStep(central),
  ];
  const rims = rimNodes(site);
  const notes = [
    `central node ${central.name}: the Qlik services stop, the repository database keeps running (guide §6.1 step 1)`,
    inputs.force ? '--force: every Qlik certificate of the central node is removed, expired or not' : 'only Qlik certificates that have expired (and those issued by an expired Qlik CA) are removed; other certificates are never touched',
    `safety copy first: ${inputs.to ? path.resolve(inputs.to) : '<run folder>/certs-before-renew'} (PFX with keys, same password), verified before anything is removed`,
  ];
  if (rims.length) notes.push(`afterwards, INFERENCE (the guide is silent on rims): ${rims.map((r) => r.name).join(', ')} must be registered again (qsadmin cluster join --rim <rim>)`);
  return {
    name: 'certs.renew',
    site: inputs.sitePath,
    lockKey: siteLockKey(site),
    inputs: { ...inputs, ...(inputs.to ? { to: path.resolve(inputs.to) } : {}) },
    secrets: [password],
    notes,
    items,
    context: (b: StepContext): RenewContext => ({ ...b, site, host: pool.host, password }),
    report: (r) => renewReport(r.outputs, rims),
    dispose: () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}

/** What follows the renewal (guide §6.1 step 5, and the rims by inference), for stdout and --json. */
export function renewFollowUps(outputs: Record<string, unknown>, rims: NodeConfig[]): { dataConnections: string[]; rimsToRegister: Array<{ node: string; hostname: string; command: string }>; rimNote: string } {
  const fresh = outputs['certs.renew.new'] as { dataConnectionsWithCredentials: string[] } | undefined;
  return {
    dataConnections: fresh?.dataConnectionsWithCredentials ?? [],
    rimsToRegister: rims.map((r) => ({ node: r.name, hostname: r.hostname, command: `qsadmin cluster join --rim ${r.name}` })),
    rimNote: 'INFERENCE: the guide is silent on rim nodes; their certificates were issued by the old CA, so each must be registered again: on the rim, stop the Qlik services, delete its Qlik certificates (as §3.4 step 8 does for rims), start QSD and QRS so that it waits at servicestate 1, then from the central node',
  };
}

// The report after a run: the new set, the safety copy, and the follow-ups.
function renewReport(outputs: Record<string, unknown>, rims: NodeConfig[]): string {
  const fresh = outputs['certs.renew.new'] as { certificates: Array<{ store: string; subject: string; thumbprint: string; notAfter: string }> } | undefined;
  const exp = outputs['certs.renew.export'] as { dir: string } | undefined;
  const lines: string[] = [];
  if (fresh) {
    lines.push('New certificate set:');
    for (const c of fresh.certificates) lines.push(`  ${c.store}  ${c.subject}  ${c.thumbprint}  not after ${c.notAfter.slice(0, 10)}`);
  }
  if (exp) lines.push(`The old set is in ${exp.dir} (PFX, same password; qsadmin certs import --replace puts it back)`);
  const f = renewFollowUps(outputs, rims);
  lines.push('What must follow:');
  lines.push(f.dataConnections.length
    ? `  re-enter the passwords of the data connections that store credentials (QMC > Data connections; guide §6.1 step 5): ${f.dataConnections.join(', ')}`
    : '  no data connection stores credentials: nothing to re-enter (guide §6.1 step 5)');
  if (f.rimsToRegister.length) {
    lines.push(`  ${f.rimNote}:`);
    for (const r of f.rimsToRegister) lines.push(`    ${r.node} (${r.hostname}): ${r.command}`);
  }
  return lines.join('\n');
}
