// What `qsadmin upgrade`, `patch` and `repair` share: the verified backup made first (the backup runbook's own
// steps), the services stopped on every node (rims first; the database keeps running), one step that runs Qlik's
// setup or update file on a node and explains its exit code, and the check of the version each node's QRS reports.
import path from 'node:path';
import type { Host } from '../host/types.js';
import { runSetupFile } from '../install/setup-run.js';
import { installedRelease, type QlikRelease } from '../installer/releases.js';
import { readVerified } from '../backup/manifest.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import type { Runbook, RunbookItem, Step, StepContext } from '../runbook/step.js';
import type { NodeConfig, SiteConfig } from '../site/model.js';
import { ALL_QLIK_SERVICES } from '../site/services.js';
import type { BackupContext } from './backup-create.js';
import { qrsOnNode } from './qrs-node.js';
import { startNodeOrder, startServiceSteps, stopNodeOrder, stopServiceSteps, waitRepositoryStep, type HostsContext } from './service-steps.js';

export interface SetupRunContext extends HostsContext {
  backup?: BackupContext;
}

/** The Qlik Sense release a node runs (Programs and Features), or a clear error. */
export async function nodeRelease(h: Host, node: NodeConfig): Promise<QlikRelease> {
  const r = installedRelease(await h.machine.installedProducts());
  if (!r) throw new InputError(`Qlik Sense is not listed among the installed programs of ${node.name} (${node.hostname})`, 'install it first (qsadmin install --silent), or fix the node in the site config');
  return r;
}

/** The run's files on a node (Windows paths): the setup log, in ProgramData\qsadmin\<what>\<run id>. */
export function runFileOnNode(h: Host, what: string, runId: string, file: string): string {
  return `${h.paths.qlikProgramData.replace(/\\Qlik\\Sense$/i, '')}\\qsadmin\\${what}\\${runId}\\${file}`;
}

/** The backup runbook's steps as they are (resume skips what they finished), then proof that the set is verified. */
export function verifiedBackupItems<C extends StepContext & { backup?: BackupContext }>(brb: Runbook<BackupContext>, idPrefix: string, what: string): RunbookItem<C>[] {
  return [
    ...(brb.items as unknown as RunbookItem<C>[]),
    {
      id: `${idPrefix}.backup.verified`,
      title: `Check that the backup set is complete and verified (the rollback of this ${what})`,
      run: async (ctx) => {
        const v = readVerified(ctx.backup!.setDir);
        if (!v) throw new VerificationError(`backup set ${ctx.backup!.setDir} has no verification record: the ${what} does not go on without a verified backup`);
        ctx.outputs.set(`${idPrefix}.backup`, { id: path.basename(ctx.backup!.setDir), dir: ctx.backup!.setDir });
      },
    },
  ];
}

/** The runbook's context, dispose and close around the backup runbook it starts with and its pool of hosts. */
export function withBackupFirst<C extends SetupRunContext>(brb: Runbook<BackupContext>, pool: { host(n: string): Promise<Host>; closeAll(): Promise<void> }, site: SiteConfig, extra: Omit<C, keyof SetupRunContext>): Pick<Runbook<C>, 'context' | 'dispose' | 'close'> {
  return {
    context: async (b: StepContext): Promise<C> => {
      const backup = await brb.context(b);
      return { ...backup, backup, site, host: pool.host, ...extra } as unknown as C;
    },
    dispose: async (ctx: C) => {
      if (ctx.backup) await brb.dispose?.(ctx.backup);
      await pool.closeAll();
    },
    close: async () => {
      await brb.close?.();
      await pool.closeAll();
    },
  };
}

/** Stop the Qlik services on every node, rims first (the database keeps running); skipped once `doneKey` is set. */
export function stopAllSteps<C extends SetupRunContext>(site: SiteConfig, idPrefix: string, doneKey: string, timeoutMs?: number): Step<C>[] {
  return stopNodeOrder(site).flatMap((n) =>
    stopServiceSteps<C>(n, { idPrefix, timeoutMs }).map((s) => ({ ...s, check: async (ctx: C) => ctx.outputs.get(doneKey) !== undefined || (await s.check!(ctx)) })),
  );
}

/** Start a node's services in order and wait for its QRS (servicestate 2). */
export function startNodeSteps<C extends SetupRunContext>(n: NodeConfig, idPrefix: string, timeoutMs?: number): Step<C>[] {
  const steps = startServiceSteps<C>(n, { idPrefix, always: true, timeoutMs });
  if ((n.services ?? ALL_QLIK_SERVICES).includes('QlikSenseRepositoryService')) steps.push(waitRepositoryStep<C>(n, { idPrefix, always: true, timeoutMs }));
  return steps;
}

/** Start every node: central first, then the rims. */
export function startAllSteps<C extends SetupRunContext>(site: SiteConfig, idPrefix: string, timeoutMs?: number): Step<C>[] {
  return startNodeOrder(site).flatMap((n) => startNodeSteps<C>(n, idPrefix, timeoutMs));
}

export interface SetupStepSpec<C extends SetupRunContext> {
  id: string;
  title: string;
  node: NodeConfig;
  file: string;
  /** Arguments; secrets among them are redacted in every log line. */
  args: (ctx: C, logFile: string) => string[];
  /** The run folder's name on the node (upgrade, patch, repair). */
  what: string;
  logName: string;
  /** True once the node is where this step takes it (resume skips it). */
  done: (h: Host, ctx: C) => Promise<boolean>;
  /** A failure of this code gets this explanation (e.g. -8 after setup installed .NET 4.8). */
  explain?: (code: number, h: Host) => Promise<string | null>;
}

/** One run of setup or update on one node, its exit code explained. */
export function setupStep<C extends SetupRunContext>(spec: SetupStepSpec<C>): Step<C> {
  return {
    id: spec.id,
    title: spec.title,
    node: spec.node.name,
    destructive: true,
    check: async (ctx) => spec.done(await ctx.host(spec.node.name), ctx),
    run: async (ctx) => {
      const h = await ctx.host(spec.node.name);
      const logFile = runFileOnNode(h, spec.what, ctx.runId, spec.logName);
      const args = spec.args(ctx, logFile);
      ctx.log(`${spec.file} ${ctx.redactor.text(args.join(' '))}`);
      ctx.progress(`${path.win32.basename(spec.file)} is running on ${spec.node.name}`);
      const out = await runSetupFile(h, spec.file, args, { logFile, redact: (s) => ctx.redactor.text(s) });
      if (out.code === 0) return ctx.log(`${path.win32.basename(spec.file)} on ${spec.node.name} ${out.detail}`);
      const extra = (await spec.explain?.(out.code, h)) ?? null;
      const msg = `${path.win32.basename(spec.file)} on ${spec.node.name} ${out.detail}${extra ? `\n${extra}` : ''}`;
      if (out.refusal && !extra) throw new InputError(`${msg}\nsetup refused before it changed anything on ${spec.node.name}`, 'fix the cause, then resume the run (qsadmin runs resume)');
      throw new Error(msg);
    },
  };
}

/** Every node's QRS answers /qrs/about with the build installed there, and every node runs `release`. */
export function verifyVersionsStep<C extends SetupRunContext>(site: SiteConfig, id: string, expected: () => { release: string; patch?: string | null }): Step<C> {
  return {
    id,
    title: 'Verify the version on every node: Programs and Features and QRS\'s /qrs/about (over mutual TLS), servicestate 2',
    run: async (ctx) => {
      const want = expected();
      const problems: string[] = [];
      const seen: Record<string, string> = {};
      for (const n of site.nodes) {
        const h = await ctx.host(n.name);
        const r = await nodeRelease(h, n);
        const patch = r.patches.length ? r.patches[r.patches.length - 1] : null;
        if (r.name !== want.release) problems.push(`${n.name} runs Qlik Sense ${r.name}, not ${want.release}`);
        if (want.patch !== undefined && patch !== want.patch) problems.push(`${n.name} has ${patch ?? 'no patch'}, not ${want.patch ?? 'no patch'}`);
        if (!(n.services ?? ALL_QLIK_SERVICES).includes('QlikSenseRepositoryService')) continue;
        const about = await (await qrsOnNode(h, n)).about();
        if (about.buildVersion !== r.build) problems.push(`${n.name}: /qrs/about reports build ${about.buildVersion}, Programs and Features ${r.build}`);
        const state = await h.services.repositoryState();
        if (state !== 2) problems.push(`${n.name}: QRS servicestate ${state ?? 'none'}, not 2`);
        seen[n.name] = `${r.name}${patch ? ` ${patch}` : ''} (build ${about.buildVersion})`;
      }
      if (problems.length) throw new VerificationError(`the site is not on the expected version:\n${problems.map((p) => `  - ${p}`).join('\n')}`, 'see the setup logs in ProgramData\\qsadmin on each node; the verified backup is the rollback (qsadmin restore)');
      ctx.outputs.set(`${id}.seen`, seen);
      ctx.log(`versions: ${Object.entries(seen).map(([k, v]) => `${k} ${v}`).join('; ')}`);
    },
  };
}

/**
 * Certificates on a rim that setup calls "unsupported certificates on a non-central node" (guide §3.5: remove them
 * all before upgrading the rim): Qlik certificates in LocalMachine\My not issued by the central node's CA, and Qlik
 * CAs in LocalMachine\Root other than it. An inference: the guide names the message, not the test behind it.
 */
export async function unsupportedRimCertificates(site: SiteConfig, hostOf: (n: string) => Promise<Host>): Promise<string[]> {
  const central = site.nodes.find((n) => n.role === 'central')!;
  const roots = await (await hostOf(central.name)).certs.list({ location: 'LocalMachine', name: 'Root' });
  const ca = roots.find((c) => c.qlikExtension !== null || c.subject.toLowerCase() === `${central.hostname.toLowerCase()}-ca`);
  if (!ca) return [];
  const out: string[] = [];
  for (const n of site.nodes.filter((x) => x.role !== 'central')) {
    const h = await hostOf(n.name);
    for (const c of await h.certs.list({ location: 'LocalMachine', name: 'My' })) if (c.qlikExtension !== null && c.issuer !== ca.subject) out.push(`${n.name}: LocalMachine\\My ${c.subject} (issued by ${c.issuer}, not the site CA ${ca.subject}; ${c.thumbprint})`);
    for (const c of await h.certs.list({ location: 'LocalMachine', name: 'Root' })) if (/-CA$/i.test(c.subject) && c.subject !== ca.subject) out.push(`${n.name}: LocalMachine\\Root ${c.subject} (${c.thumbprint})`);
  }
  return out;
}

/** The same release (and patches) on every node, or a refusal naming the odd ones (guide §3.3: all nodes one version). */
export function requireOneVersion(site: SiteConfig, releases: Map<string, QlikRelease>): QlikRelease {
  const c = releases.get(site.nodes.find((n) => n.role === 'central')!.name)!;
  const label = (r: QlikRelease) => `${r.name}${r.patches.length ? ` ${r.patches[r.patches.length - 1]}` : ''}`;
  const odd = site.nodes.filter((n) => label(releases.get(n.name)!) !== label(c));
  if (odd.length) throw new InputError(`the nodes do not run one version: central runs Qlik Sense ${label(c)}, ${odd.map((n) => `${n.name} ${label(releases.get(n.name)!)}`).join(', ')} (every node must run the same version, guide §3.3)`, 'bring the odd nodes to the central node\'s version first (or resume the run that left them so)');
  return c;
}
