// What a failed restore left, read from its outputs and the live site, and what to do about it: which databases were
// swapped (and whether the replaced ones are still there to rename back), which share roots had entries renamed,
// whether certificates were changed, and which services the run stopped. The failure hint and the recovery step both
// work from this one description, so that what the operator reads is what the run left.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../runbook/fsutil.js';
import type { Outputs } from '../runbook/step.js';
import type { PgConn } from '../postgres/client.js';
import { failedName, oldName, restoreName } from './names.js';
import { joinLike } from './share.js';
import { oldShareName, stagingName, type SwapRoot } from './stage.js';

/** Output keys: `live.<what>` is set just before a step changes something live (a store, a database name, the share). */
export const LIVE_PREFIX = 'live.';
/** Set when the first service start begins: every change of the restore is in place. */
export const CHANGES_DONE = 'changes.done';
/** The Qlik services that were running when the run first stopped services ("node/service"). */
export const SERVICES_BEFORE = 'services.before';

/** Note (persisted) that a step is about to change something live. */
export function markLive(outputs: Outputs, what: string): void {
  if (!outputs.get(`${LIVE_PREFIX}${what}`)) outputs.set(`${LIVE_PREFIX}${what}`, new Date().toISOString());
}

/** What the live site looks like after a failure, as far as the restore touched it. */
export interface LeftState {
  /** Databases now holding the restored data; `oldKept`: the replaced one is still there as "<DB>__qsadmin_old". */
  swapped: Array<{ db: string; oldKept: boolean }>;
  /** Databases the restore did not replace (still the site's own). */
  untouched: string[];
  /** Share roots where entries were renamed (the replaced ones are in the old folder). */
  shareRenamed: SwapRoot[];
  /** Share roots not changed whose staging folder is still there (kept for a resume). */
  stagedOnly: SwapRoot[];
  /** The guide's copied share was (partly) copied over the share root; the overwritten files are in `aside`. */
  plainCopied?: { aside: string };
  /** What else changed live (certificates, QSR's share paths, supporting content, configs, the hostname restore). */
  otherChanges: string[];
  /** Nothing live was changed at all. */
  nothingLive: boolean;
}

/** Read the state a restore run left from its outputs and the databases and folders that exist now. */
export function leftState(o: { outputs: Outputs; runId: string; dbs: string[]; roots: SwapRoot[]; have: Set<string>; plainAside?: string }): LeftState {
  const swapped: LeftState['swapped'] = [];
  const untouched: string[] = [];
  for (const db of o.dbs) {
    // Swapped: recorded, or this run's swap began and the names say so (a crash between the commit and the record).
    // A "<DB>__qsadmin_old" alone proves nothing: another, unfinished restore may have left it.
    const began = !!o.outputs.get(`${LIVE_PREFIX}db.swap`);
    const done = !!o.outputs.get(`db.swapped.${db}`) || (began && !o.have.has(restoreName(db)) && o.have.has(oldName(db)) && o.have.has(db));
    if (done) swapped.push({ db, oldKept: o.have.has(oldName(db)) });
    else untouched.push(db);
  }
  const shareRenamed = o.roots.filter((r) => fs.existsSync(path.join(r.local, oldShareName(o.runId))));
  const stagedOnly = o.roots.filter((r) => !shareRenamed.includes(r) && fs.existsSync(path.join(r.local, stagingName(o.runId))));
  const plainCopied = o.plainAside && (o.outputs.get(`${LIVE_PREFIX}share.copy`) || fs.existsSync(o.plainAside)) ? { aside: o.plainAside } : undefined;
  const other = Object.keys(o.outputs.all())
    .filter((k) => k.startsWith(LIVE_PREFIX) && !!o.outputs.get(k))
    .map((k) => k.slice(LIVE_PREFIX.length))
    .filter((k) => k !== 'db.swap' && !k.startsWith('share.swap.') && k !== 'share.copy');
  return { swapped, untouched, shareRenamed, stagedOnly, plainCopied, otherChanges: other, nothingLive: !swapped.length && !shareRenamed.length && !plainCopied && !other.length };
}

/** Only the certificate stores changed (before the database swap): the recovery can put them back. */
export function onlyCertificates(s: LeftState): boolean {
  return !s.swapped.length && !s.shareRenamed.length && !s.plainCopied && s.otherChanges.length > 0 && s.otherChanges.every((c) => c.startsWith('certs.'));
}

/** What happens to the services the run stopped. */
export type ServiceDecision =
  | { action: 'none' }
  | { action: 'start'; state: 'old' | 'restored'; services: string[] }
  | { action: 'leave-stopped'; services: string[] };

/**
 * Start the stopped services again when the site is in one whole state (nothing live changed: the old one; every
 * change made: the restored one). In between, a start would run Qlik on a mix of old and restored parts: they stay
 * stopped and the hint says how to finish or roll back.
 */
export function decideServices(state: LeftState, outputs: Outputs, stoppedNow: string[]): ServiceDecision {
  if (!stoppedNow.length) return { action: 'none' };
  if (state.nothingLive) return { action: 'start', state: 'old', services: stoppedNow };
  if (outputs.get(CHANGES_DONE)) return { action: 'start', state: 'restored', services: stoppedNow };
  return { action: 'leave-stopped', services: stoppedNow };
}

/** How to put a database back from its safety dump by hand: one command a line (no pipes or &&: cmd and PowerShell alike). */
export type LoadLines = (db: string) => string[];

/**
 * The rollback text for exactly this state: a rollback SQL file for the databases whose replaced copy is still there
 * (renames in one transaction), the safety dump's load for those dropped already, and the share entries to move back.
 * Empty when nothing live changed.
 */
export function rollbackLines(state: LeftState, o: { conn: PgConn; runDir: string; runId: string; safetyDir: string; owners: Map<string, string>; load: LoadLines; certSafety: string; binDir?: string }): string[] {
  if (state.nothingLive) return [];
  const at = `-h ${o.conn.host} -p ${o.conn.port} -U ${o.conn.user}`;
  const lines: string[] = [];
  const renameBack = state.swapped.filter((s) => s.oldKept);
  if (renameBack.length) {
    const file = path.join(o.runDir, 'rollback-databases.sql');
    writeFileAtomic(file, rollbackSql(renameBack.map((s) => s.db)), 0o600);
    lines.push(`Databases ${renameBack.map((s) => s.db).join(', ')}: the replaced ones are kept as "<DB>${oldName('')}". To put them back (services stopped):`);
    lines.push(`  psql ${at} -d postgres -v ON_ERROR_STOP=1 -f "${file}"`);
    for (const s of renameBack) lines.push(`  dropdb ${at} "${failedName(s.db)}"`);
  }
  for (const s of state.swapped.filter((x) => !x.oldKept)) {
    lines.push(`Database ${s.db}: the replaced one was dropped after the swap; its safety dump is in ${o.safetyDir}. To load it back (services stopped):`);
    lines.push(`  dropdb ${at} --if-exists "${s.db}"`, `  createdb ${at} -T template0 -O ${o.owners.get(s.db) ?? 'postgres'} "${s.db}"`, ...o.load(s.db).map((l) => `  ${l}`));
  }
  if (state.swapped.length && o.binDir) {
    // The bundled PostgreSQL of a Qlik site is not on PATH: say where its programs are, for cmd and PowerShell alike.
    lines.push(`  (psql, dropdb, createdb and pg_restore are in ${o.binDir}: put it first on PATH, cmd: set "PATH=${o.binDir};%PATH%"  PowerShell: $env:Path = '${o.binDir};' + $env:Path)`);
  }
  if (state.untouched.length && state.swapped.length) lines.push(`Databases ${state.untouched.join(', ')}: not replaced (unchanged).`);
  for (const r of state.shareRenamed) {
    lines.push(`Share ${r.dest}: the replaced entries are in ${oldShareName(o.runId)} there. To roll back (services stopped): move every entry of ${joinLike(r.dest, oldShareName(o.runId))} back over the one of the same name in ${r.dest}, then remove ${oldShareName(o.runId)} and ${stagingName(o.runId)}`);
  }
  for (const r of state.stagedOnly) lines.push(`Share ${r.dest}: not changed; ${stagingName(o.runId)} there holds the backup's files for a resume: remove it if you roll back`);
  if (state.plainCopied) lines.push(`Share: the files the copy overwrote are in ${state.plainCopied.aside}: move them back over the copies to roll back (services stopped)`);
  if (state.otherChanges.includes('certs.remove')) lines.push(`Certificates: the Qlik certificates removed from the stores are exported in ${o.certSafety} (replaced.json lists them)`);
  if (state.otherChanges.includes('certs.import')) lines.push('Certificates: the backup\'s set was imported into the stores');
  if (state.otherChanges.includes('certs.pem')) lines.push('Certificates: the PEM copies in Exported Certificates\\.Local Certificates were rewritten from the backup\'s set');
  if (state.otherChanges.includes('config')) lines.push(`Config files: the ones replaced are kept in ${path.join(o.safetyDir, 'config')} (named after their paths)`);
  if (state.otherChanges.includes('extra')) lines.push(`Supporting content: the files replaced are kept in ${path.join(o.safetyDir, 'extra')} (named after their paths)`);
  const rest = state.otherChanges.filter((c) => !c.startsWith('certs.') && c !== 'config' && c !== 'extra');
  if (rest.length) lines.push(`Also changed: ${rest.join(', ')}`);
  return lines;
}

/** The SQL that renames each restored database aside and its replaced copy back, all or nothing. */
function rollbackSql(dbs: string[]): string {
  const q = (n: string) => `"${n.replace(/"/g, '""')}"`;
  const lit = (n: string) => `'${n.replace(/'/g, "''")}'`;
  const names = dbs.flatMap((d) => [d, oldName(d)]);
  return [
    '-- qsadmin restore rollback: the restored databases are renamed <DB>__qsadmin_failed, the replaced ones back to <DB>.',
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (${names.map(lit).join(', ')}) AND pid <> pg_backend_pid();`,
    'BEGIN;',
    ...dbs.flatMap((d) => [`ALTER DATABASE ${q(d)} RENAME TO ${q(failedName(d))};`, `ALTER DATABASE ${q(oldName(d))} RENAME TO ${q(d)};`]),
    'COMMIT;',
    '',
  ].join('\n');
}

/** One line for the services, matching the decision. */
export function servicesLine(d: ServiceDecision, o: { runId: string; site: string }): string | null {
  if (d.action === 'none') return null;
  if (d.action === 'start') {
    return `Services: the ${d.services.length} Qlik service(s) this run stopped are started again on the ${d.state} state; if that fails: qsadmin services start --site "${o.site}"`;
  }
  return `Services: left STOPPED (${d.services.length}): the site is partly restored. Finish the restore (then they start): qsadmin runs resume ${o.runId} --yes; or roll back as above, then: qsadmin services start --site "${o.site}"`;
}
