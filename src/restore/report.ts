// The human result of a restore, for stdout (progress and the step list stay on stderr): what was restored, what was
// kept aside and where; after a failure, what the run left. Read from the run's outputs only.
import type { RunResult } from '../runbook/runner.js';
import { LIVE_PREFIX } from './recovery.js';

/** Lines for stdout after a restore run (not a dry run). */
export function restoreReport(r: RunResult): string {
  const out = r.outputs;
  const swapped = Object.keys(out).filter((k) => k.startsWith('db.swapped.')).map((k) => k.slice('db.swapped.'.length));
  const staged = Object.entries(out).filter(([k]) => k.startsWith('share.staged.')).map(([k, v]) => ({ i: k.slice('share.staged.'.length), ...(v as { dest?: string; files: number; linked: number; bytes: number }) }));
  const shareIn = staged.filter((s) => out[`share.swapped.${s.i}`]);
  const copy = out['share.copy'] as { root: string; files: number; replaced: number } | undefined;
  const lines: string[] = [];
  if (r.status === 'succeeded') lines.push(`Restored (run ${r.runId}):`);
  else lines.push(`Restore run ${r.runId} FAILED${r.error?.step ? ` at ${r.error.step}` : ''}. What it left:`);
  if (swapped.length) lines.push(`  databases restored: ${swapped.join(', ')}${r.status === 'succeeded' ? ' (row counts checked against the backup)' : ''}`);
  for (const s of shareIn) lines.push(`  share: ${s.files} file(s) in ${s.dest ?? 'the share'} (${s.linked} unchanged live file(s) kept, ${s.files - s.linked} copied from the backup, ${s.bytes} bytes)`);
  if (copy) lines.push(`  share: ${copy.files} file(s) of the copied share into ${copy.root} (${copy.replaced} live file(s) overwritten)`);
  if (out[`${LIVE_PREFIX}certs.import`]) lines.push('  certificates: the backup\'s set imported into the stores');
  if (out['hostname.restored']) lines.push(`  hostname: QSR now names ${String(out['hostname.restored'])} (Repository.exe -restorehostname)`);
  if (out['config.restored']) lines.push(`  config files: ${(out['config.restored'] as string[]).join(', ')}`);
  if (r.status !== 'succeeded' && !Object.keys(out).some((k) => k.startsWith(LIVE_PREFIX) && out[k])) lines.push('  nothing live was changed (databases, share and certificates are as they were)');
  const recovered = out['recover.started'] as { state: string; services: string[] } | undefined;
  if (recovered) lines.push(`  services: ${recovered.services.length} stopped by the run were started again (${recovered.state} state)`);
  if (out['qrs.about']) lines.push('  QRS answered /qrs/about with the restored client certificate');
  const kept: string[] = [];
  if (out.safetyDir && Object.keys(out).some((k) => k.startsWith('db.loaded.') || k.startsWith('db.swapped.'))) kept.push(`safety dumps of the databases it replaces: ${String(out.safetyDir)} (kept until you remove them)`);
  if (out['config.restored']) kept.push(`the config files it replaced: ${String(out.safetyDir)}/config`);
  if (out[`${LIVE_PREFIX}extra`]) kept.push(`the supporting content files it replaced: ${String(out.safetyDir)}/extra`);
  if (out[`${LIVE_PREFIX}certs.remove`]) kept.push(`the Qlik certificates it removed from the stores: ${String(out.safetyDir)}/certificates`);
  if (r.status !== 'succeeded' && (shareIn.length || copy)) kept.push('the share entries it replaced: .qsadmin-old-' + r.runId + ' in each share folder (removed once a restore is verified)');
  if (kept.length) lines.push('Kept aside:', ...kept.map((k) => `  ${k}`));
  return lines.join('\n');
}
