// `qsadmin doctor`: the read-only health checks of a Windows site (guide §6.1, §7, §8): certificates (certs check),
// service states, QRS servicestate on 4444, the trusted-root count (over 300 breaks TLS), clock skew, free space and
// the guide's known log signatures of the last day. Each check is ok or needs attention, with a fix.
import fs from 'node:fs/promises';
import http from 'node:http';
import type { Host } from '../host/types.js';
import { summarize } from '../logs/collect.js';
import { gatherLogs } from '../logs/gather.js';
import { checkSiteCertificates } from '../runbooks/certs.js';
import { hostPool, startNodeOrder } from '../runbooks/service-steps.js';
import type { NodeConfig, SiteConfig } from '../site/model.js';

export interface DoctorCheck {
  id: string;
  status: 'ok' | 'attention';
  detail: string;
  fix?: string;
}

/** Over this many trusted roots QRS warns and Windows truncates the list in the TLS handshake (guide §6.1). */
export const MAX_TRUSTED_ROOTS = 300;
/** Clock skew that needs attention: Kerberos refuses 5 minutes; the guide wants NTP-synced nodes (§7.3). */
export const MAX_SKEW_MS = 60_000;
/** Free space below which a node needs attention (logs, the share's apps, the database grow there). */
export const MIN_FREE_BYTES = 5 * 1024 ** 3;

// The Date header of http://<node>:4444/status/servicestate against this machine's clock; null when nothing answers.
function clockSkew(node: NodeConfig): Promise<number | null> {
  return new Promise((resolve) => {
    const sent = Date.now();
    const req = http.get({ host: node.address, port: 4444 + (node.portOffset ?? 0), path: '/status/servicestate', timeout: 3000 }, (res) => {
      res.resume();
      const date = res.headers.date ? Date.parse(res.headers.date) : NaN;
      // the header has whole seconds: compare with the middle of the request, allow the second it was cut to
      const mid = (sent + Date.now()) / 2;
      resolve(Number.isNaN(date) ? null : Math.abs(mid - date) <= 1000 ? 0 : mid - date);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;

// The checks of one node.
async function nodeChecks(n: NodeConfig, host: Host): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const list = await host.services.list();
  const down = list.filter((s) => s.state !== 'running' && s.state !== 'absent');
  out.push(down.length
    ? { id: `services.${n.name}`, status: 'attention', detail: `not running: ${down.map((s) => `${s.name} (${s.state})`).join(', ')}`, fix: `qsadmin services start --node ${n.name}; if one will not start, see its log in %ProgramData%\\Qlik\\Sense\\Log\\<Service> (§8.9)` }
    : { id: `services.${n.name}`, status: 'ok', detail: `${list.length} service(s) running` });
  const state = await host.services.repositoryState();
  const meaning: Record<number, string> = { 0: 'initializing', 1: 'certificates not installed', 2: 'running' };
  out.push(state === 2
    ? { id: `servicestate.${n.name}`, status: 'ok', detail: 'servicestate 2 (running)' }
    : { id: `servicestate.${n.name}`, status: 'attention', detail: state === null ? 'port 4444 does not answer' : `servicestate ${state} (${meaning[state] ?? 'unknown'})`, fix: state === 1 ? 'the node waits for its certificates: unlock the package from the QMC (Nodes) or register it again' : 'QRS is not running: it needs the repository database (§8.9)' });
  const roots = (await host.certs.list({ location: 'LocalMachine', name: 'Root' })).length;
  out.push(roots > MAX_TRUSTED_ROOTS
    ? { id: `trusted-roots.${n.name}`, status: 'attention', detail: `${roots} trusted root certificates (more than ${MAX_TRUSTED_ROOTS})`, fix: 'Windows truncates the list in the TLS handshake and may drop <host>-CA: remove roots the machine does not need (§6.1)' }
    : { id: `trusted-roots.${n.name}`, status: 'ok', detail: `${roots} trusted root certificates` });
  const skew = await clockSkew(n);
  out.push(skew === null
    ? { id: `clock.${n.name}`, status: 'attention', detail: 'the clock could not be read (port 4444 does not answer)' }
    : Math.abs(skew) > MAX_SKEW_MS
      ? { id: `clock.${n.name}`, status: 'attention', detail: `the clock is ${(skew / 1000).toFixed(0)} s off this machine's`, fix: 'sync every node with NTP and check the time zone (§7.3)' }
      : { id: `clock.${n.name}`, status: 'ok', detail: `within ${MAX_SKEW_MS / 1000} s of this machine's clock` });
  try {
    const st = await fs.statfs(host.files.resolve(host.paths.qlikProgramData));
    const free = st.bavail * st.bsize;
    out.push(free < MIN_FREE_BYTES
      ? { id: `free-space.${n.name}`, status: 'attention', detail: `${gib(free)} free under ${host.paths.qlikProgramData}`, fix: 'free space: old logs (after logs collect), old backups; the services stop when the disk is full' }
      : { id: `free-space.${n.name}`, status: 'ok', detail: `${gib(free)} free under ${host.paths.qlikProgramData}` });
  } catch (e) {
    out.push({ id: `free-space.${n.name}`, status: 'attention', detail: `free space could not be read: ${(e as Error).message}` });
  }
  return out;
}

/** Run every check; read-only. */
export async function runDoctor(site: SiteConfig, opts: { warnDays?: number; interactive?: boolean } = {}): Promise<{ checks: DoctorCheck[]; ok: boolean }> {
  const checks: DoctorCheck[] = [];
  const certs = await checkSiteCertificates(site, { warnDays: opts.warnDays ?? 30 });
  const problems = certs.findings.filter((f) => f.level !== 'ok');
  checks.push(problems.length
    ? { id: 'certificates', status: 'attention', detail: problems.slice(0, 5).map((f) => `${f.node}: ${f.message}`).join('; '), fix: 'see qsadmin certs check; expired ones: qsadmin certs renew' }
    : { id: 'certificates', status: 'ok', detail: `every Qlik certificate valid for more than ${opts.warnDays ?? 30} days` });
  const { openHost } = await import('../host/index.js');
  const pool = hostPool(site, openHost);
  try {
    for (const n of startNodeOrder(site)) checks.push(...(await nodeChecks(n, await pool.host(n.name))));
  } finally {
    await pool.closeAll();
  }
  const since = new Date(Date.now() - 86_400_000);
  const g = await gatherLogs(site, since, !!opts.interactive);
  try {
    const s = await summarize(g.files, since);
    checks.push(s.signatures.length
      ? { id: 'logs', status: 'attention', detail: s.signatures.map((x) => `"${x.text}" ${x.count}x (${x.section})`).join('; '), fix: 'qsadmin logs collect shows each line with the guide\'s fix' }
      : { id: 'logs', status: 'ok', detail: `no known problem in ${s.files} log file(s) of the last 24 h` });
  } finally {
    await g.close();
  }
  return { checks, ok: checks.every((c) => c.status === 'ok') };
}
