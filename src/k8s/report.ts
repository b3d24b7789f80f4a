// The doctor's human output: one line per pod, and under each pod that needs attention what is wrong and the hint.
import type { DoctorResult } from './doctor.js';
import type { Diagnosis } from './diagnose.js';

const INDENT = '    ';

/** The whole report as text (stdout without --json). */
export function formatDoctor(r: DoctorResult): string {
  const out: string[] = [];
  const which = 'selector' in r.selection ? `pods matching -l ${r.selection.selector}` : `pods named ${r.selection.namePrefix}*`;
  out.push(`namespace ${r.namespace}${r.context ? `, context ${r.context}` : ''}: ${which}`);
  if (!r.pods.length) {
    out.push(`no ${which} in namespace ${r.namespace}: check --namespace and --context, or select the Qlik Sense pods with --selector or --name-prefix`);
  } else {
    const rows = r.pods.map((p) => [p.name, p.phase, `${p.ready.ready}/${p.ready.total}`, String(p.restarts), p.verdict]);
    const head = ['POD', 'PHASE', 'READY', 'RESTARTS', 'VERDICT'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
    const fmt = (cols: string[]) => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
    out.push(fmt(head));
    for (const [i, p] of r.pods.entries()) {
      out.push(fmt(rows[i]));
      for (const d of p.diagnoses) out.push(...formatDiagnosis(d));
    }
  }

  if (r.releases.length) out.push('', `helm releases in ${r.namespace}: ${r.releases.map((h) => `${h.name} (${h.chart}, ${h.status})`).join(', ')}`);
  else out.push('', `no helm releases in ${r.namespace}`);
  for (const h of r.releases) if (h.valuesError) out.push(`${INDENT}could not read the values of ${h.name}: ${h.valuesError}`);
  for (const w of r.warnings) out.push(`WARNING ${w.message}`, `${INDENT}hint: ${w.hint}`);

  const healthy = r.pods.length - r.unhealthy;
  out.push('', `${r.pods.length} pod(s): ${healthy} healthy, ${r.unhealthy} need(s) attention; ${r.warnings.length} warning(s)${r.ok ? '' : ' (exit 4)'}`);
  return out.join('\n');
}

// The lines under one pod: the diagnosis, its evidence, the previous log or the raw events, the hint.
function formatDiagnosis(d: Diagnosis): string[] {
  const out = [`${INDENT}${d.kind}: ${d.summary}`];
  for (const e of d.evidence) out.push(`${INDENT}  ${e}`);
  if (d.previousLog) {
    out.push(`${INDENT}last ${d.previousLog.length} line(s) of the previous ${d.container} container:`);
    for (const l of d.previousLog) out.push(`${INDENT}  | ${l}`);
  } else if (d.previousLogError) out.push(`${INDENT}the previous container's log could not be read: ${d.previousLogError}`);
  if (d.events) {
    if (d.events.length) out.push(`${INDENT}events (newest first):`);
    for (const e of d.events) out.push(`${INDENT}  ${e.last ?? '-'}  ${e.type}  ${e.reason}${e.count > 1 ? ` (x${e.count})` : ''}: ${e.message}`);
  }
  out.push(`${INDENT}hint: ${d.hint}`);
  return out;
}
