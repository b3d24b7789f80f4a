// `qsadmin restore <set> --only alerting`: Qlik Alerting back from a backup set, the seed's way (l.322-333).
//
// The procedure, as the plan shows it:
//   preflight (the set's Alerting part: every file's sha256, every .bson readable with the recorded counts) → stop
//   the Qlik Alerting Gateway → safety copy: mongodump of the live database into the run folder, and default.json and
//   config\certificates as they are → mongorestore --drop <set>/alerting/dump (each collection in the backup is
//   dropped and loaded again, so its documents equal the backup's: without --drop mongorestore only inserts and keeps
//   every existing document; a collection made after the backup is not in the dump and stays) → put back
//   default.json and the certificates folder (files the backup does not have are removed: the safety copy holds
//   them) → start the Gateway and check that it answers on the ports the restored default.json names.
//
// Resume: each step records what it did in outputs (the safety dump's folder, "restored"); a resumed run skips what
// is done and re-runs the step that was interrupted (mongorestore --drop and the file copies can be repeated).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { alertingSetProblems, countDump, type AlertingSummary } from '../alerting/backup.js';
import { alertingOf, alertingPaths, ALERTING_DB, GATEWAY_DISPLAY, readAlertingSettings, type AlertingSettings } from '../alerting/config.js';
import { runTool } from '../alerting/tools.js';
import { hashFile } from '../backup/hashcopy.js';
import type { Manifest, ManifestFile } from '../backup/manifest.js';
import { mkdirPrivateSync, writePrivate } from '../host/private-files.js';
import type { Host } from '../host/types.js';
import { InputError, VerificationError } from '../runbook/errors.js';
import type { Runbook, Step, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import type { ServiceName } from '../site/services.js';
import { detectSource } from '../restore/source.js';
import type { BuildEnv } from './registry.js';
import { hostPool, siteLockKey, type HostsContext } from './service-steps.js';

export interface RestoreAlertingInputs {
  sitePath: string;
  source: string;
  yes?: boolean;
  stopTimeoutMs?: number;
  startTimeoutMs?: number;
}

interface Ctx extends HostsContext {
  setDir: string;
  manifest: Manifest;
}

const SAFETY = 'alerting.safety';
const RESTORED = 'alerting.restored';

/** The files of the set's Alerting part, checked against the manifest. */
async function checkedPart(setDir: string, m: Manifest): Promise<string[]> {
  const files = m.files.filter((f) => f.kind.startsWith('alerting-'));
  const problems: string[] = [];
  for (const f of files) {
    const p = path.join(setDir, ...f.path.split('/'));
    if (!fs.existsSync(p)) {
      problems.push(`${f.path}: missing`);
      continue;
    }
    const w = await hashFile(p);
    if (w.sha256 !== f.sha256) problems.push(`${f.path}: sha256 ${w.sha256} does not match the manifest (${f.sha256})`);
  }
  return [...problems, ...(problems.length ? [] : alertingSetProblems(setDir, files))];
}

/** Does something accept TCP connections at host:port? */
function answers(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(timeoutMs);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

/** The Gateway's ports from a default.json, and whether each answers. */
export async function gatewayPorts(settings: AlertingSettings): Promise<Array<{ port: number; ok: boolean }>> {
  const g = settings.gateway;
  const ports = g.https ? [g.httpPort, g.httpsPort] : [g.httpPort];
  return Promise.all(ports.map(async (port) => ({ port, ok: await answers(g.ip, port) })));
}

export async function buildRestoreAlerting(inputs: RestoreAlertingInputs, env: BuildEnv): Promise<Runbook<Ctx>> {
  const site = loadSiteConfig(inputs.sitePath);
  const a = alertingOf(site);
  const p = alertingPaths(a);
  const src = await detectSource(inputs.source, path.join(env.stateDir, 'restore-sources'));
  if (src.kind !== 'set') throw new InputError(`${inputs.source} is not a qsadmin backup set: --only alerting needs one (the guide's manual backups hold no Alerting part)`);
  const m = src.manifest;
  const files = m.files.filter((f) => f.kind.startsWith('alerting-'));
  if (!files.length) throw new InputError(`backup set ${m.id} has no Alerting part (alerting/)`, 'it was made without "alerting" in the site config; choose a set made with it (qsadmin backup show <set>)');
  const problems = await checkedPart(src.dir, m);
  if (problems.length) throw new VerificationError(`the Alerting part of ${src.dir} does not match its manifest: ${problems.slice(0, 3).join('; ')}`, `see qsadmin backup verify ${src.dir}`);
  if (!inputs.yes && !env.dryRun) throw new InputError('restore --only alerting replaces the Alerting database, default.json and certificates', 'pass --yes (a safety dump and copy of the current ones is taken first)');
  const summary = JSON.parse(fs.readFileSync(path.join(src.dir, 'alerting', 'summary.json'), 'utf8')) as AlertingSummary;
  const pool = hostPool(site, async (s, n) => (await import('../host/index.js')).openHost(s, n));
  const gateway = p.gatewayService as ServiceName;
  const configFiles = files.filter((f) => f.kind === 'alerting-config' || f.kind === 'alerting-cert');

  const steps: Step<Ctx>[] = [
    {
      id: 'alerting.gateway.stop',
      title: `Stop the ${GATEWAY_DISPLAY} (${p.gatewayService})`,
      node: a.node,
      check: async (ctx) => !!ctx.outputs.get(RESTORED) || (await (await ctx.host(a.node)).services.status(gateway)).state === 'stopped',
      run: async (ctx) => {
        await (await ctx.host(a.node)).services.stop(gateway, { timeoutMs: inputs.stopTimeoutMs });
      },
    },
    {
      id: 'alerting.safety',
      title: `Safety copy: mongodump --db=${ALERTING_DB} of the live database, default.json and config\\certificates, into the run folder`,
      node: a.node,
      check: async (ctx) => {
        const dir = ctx.outputs.get<string>(SAFETY);
        return !!dir && fs.existsSync(path.join(dir, '..', 'complete'));
      },
      run: async (ctx) => {
        const h = await ctx.host(a.node);
        const base = path.join(ctx.runDir, 'safety', 'alerting');
        fs.rmSync(base, { recursive: true, force: true });
        mkdirPrivateSync(path.join(base, 'dump'));
        const settings = await readAlertingSettings(h, p.defaultJson, ctx.redactor);
        await runTool({ host: h, binDir: p.mongoBinDir, conn: settings.mongo, privateDir: path.join(ctx.runDir, 'private') }, 'mongodump', [`--db=${ALERTING_DB}`, `--out=${path.join(base, 'dump')}`]);
        // A safety copy is only one when it reads back: every collection's BSON is decoded.
        const counts = countDump(path.join(base, 'dump', ALERTING_DB));
        await writePrivate(path.join(base, 'config', 'default.json'), await h.files.read(p.defaultJson));
        for await (const f of h.files.walk(p.certificatesDir)) {
          await writePrivate(path.join(base, 'config', 'certificates', ...path.win32.relative(p.certificatesDir, f.path).split('\\')), await h.files.read(f.path));
        }
        await writePrivate(path.join(base, 'complete'), JSON.stringify(counts) + '\n');
        ctx.outputs.set(SAFETY, path.join(base, 'dump'));
        ctx.log(`safety copy in ${base}: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      },
    },
    {
      id: 'alerting.db.restore',
      title: `Restore the database: mongorestore --drop "<set>\\alerting\\dump" (collections in the backup replaced; ${summary.documents} documents)`,
      node: a.node,
      check: async (ctx) => !!ctx.outputs.get(RESTORED),
      run: async (ctx) => {
        const h = await ctx.host(a.node);
        const settings = await readAlertingSettings(h, p.defaultJson, ctx.redactor);
        const r = await runTool({ host: h, binDir: p.mongoBinDir, conn: settings.mongo, privateDir: path.join(ctx.runDir, 'private') }, 'mongorestore', ['--drop', path.join(ctx.setDir, 'alerting', 'dump')]);
        const m2 = /(\d+) document\(s\) restored successfully\. (\d+) document\(s\) failed to restore\./.exec(r.stderr + r.stdout);
        if (!m2) throw new VerificationError('mongorestore printed no summary line ("N document(s) restored successfully. M document(s) failed to restore.")');
        const [ok, failed] = [Number(m2[1]), Number(m2[2])];
        if (failed > 0 || ok !== summary.documents) throw new VerificationError(`mongorestore restored ${ok} documents and failed ${failed}; the backup holds ${summary.documents}`, `the safety dump is in ${ctx.outputs.get(SAFETY)}: mongorestore --drop "<that folder>" puts the database back as it was`);
        ctx.outputs.set(RESTORED, true);
        ctx.log(`mongorestore: ${ok} documents restored, 0 failed`);
      },
    },
    {
      id: 'alerting.config.restore',
      title: 'Put back default.json and config\\certificates (files the backup lacks are removed; the safety copy has them)',
      node: a.node,
      check: async (ctx) => !!ctx.outputs.get('alerting.config.restored'),
      run: async (ctx) => {
        const h = await ctx.host(a.node);
        const keep = new Set(configFiles.map((f) => f.source!.toLowerCase()));
        for await (const f of h.files.walk(p.certificatesDir)) if (!keep.has(f.path.toLowerCase())) await h.files.remove(f.path);
        for (const f of configFiles) await putBack(h, ctx.setDir, f);
        ctx.outputs.set('alerting.config.restored', true);
      },
    },
    {
      id: 'alerting.gateway.start',
      title: `Start the ${GATEWAY_DISPLAY} and check that it answers on the ports default.json names`,
      node: a.node,
      always: true,
      onInterrupt: 'run',
      run: async (ctx) => {
        const h = await ctx.host(a.node);
        await h.services.start(gateway, { timeoutMs: inputs.startTimeoutMs });
        const ports = await gatewayPorts(await readAlertingSettings(h, p.defaultJson, ctx.redactor));
        const down = ports.filter((x) => !x.ok);
        if (down.length) throw new VerificationError(`the ${GATEWAY_DISPLAY} runs but does not answer on port ${down.map((x) => x.port).join(', ')}`, 'see its log; qsadmin alerting check reports the details');
        ctx.log(`${GATEWAY_DISPLAY} answers on ${ports.map((x) => x.port).join(', ')}`);
      },
    },
  ];

  return {
    name: 'restore.alerting',
    site: path.resolve(inputs.sitePath),
    lockKey: siteLockKey(site),
    inputs: { ...inputs },
    notes: [
      `backup set ${m.id} (${src.dir}): Qlik Alerting of node ${summary.node}, ${summary.documents} documents in ${Object.keys(summary.collections).join(', ')}`,
      `onto node ${a.node}: database ${ALERTING_DB}, ${p.defaultJson}, ${p.certificatesDir}`,
      'mongorestore --drop: every collection in the backup is dropped and loaded again (without --drop, existing documents would be kept); a collection created after the backup is not in the dump and stays',
      'the Qlik Sense services are not touched',
    ],
    items: steps,
    context: (b: StepContext): Ctx => ({ ...b, site, host: pool.host, setDir: src.dir, manifest: m }),
    dispose: async () => pool.closeAll(),
    close: () => pool.closeAll(),
  };
}

/** Write one file of the set back where it came from, after checking its bytes against the manifest. */
async function putBack(h: Host, setDir: string, f: ManifestFile): Promise<void> {
  const local = path.join(setDir, ...f.path.split('/'));
  const w = await hashFile(local);
  if (w.sha256 !== f.sha256) throw new VerificationError(`${f.path} changed since the preflight: sha256 ${w.sha256}, manifest ${f.sha256}`);
  await h.files.write(f.source!, fs.readFileSync(local), { mode: 0o600 });
}
