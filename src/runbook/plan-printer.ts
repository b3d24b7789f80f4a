// The plan printer for --dry-run: the ordered steps, per node, as the operator will see them run.
import type { RunResult } from './runner.js';

/** Render a planned (or finished) run as plain text lines. */
export function formatPlan(result: Pick<RunResult, 'runbook' | 'site' | 'notes' | 'steps'>, opts: { destructive?: Set<string> } = {}): string {
  const lines: string[] = [`Plan for ${result.runbook} on ${result.site} (dry run: nothing will be changed)`];
  for (const n of result.notes ?? []) lines.push(`  note: ${n}`);
  let i = 0;
  let lastNode: string | undefined;
  for (const s of result.steps) {
    if (s.node !== lastNode) {
      if (s.node) lines.push(`  on ${s.node}:`);
      lastNode = s.node;
    }
    i++;
    const flag = opts.destructive?.has(s.id) ? '  [destructive: needs --yes]' : '';
    lines.push(`  ${String(i).padStart(3)}. ${s.title}${flag}    (${s.id})`);
  }
  return lines.join('\n');
}

/**
 * The end of a run: the outcome and, for a failure, the reason and the fix first; then the steps that ran, one line
 * each, and the skipped or not-run ones counted (a page of them would bury the line that matters).
 */
export function formatSummary(result: RunResult): string {
  if (result.alreadyFinished) {
    const at = result.alreadyFinished.finishedAt ? ` at ${result.alreadyFinished.finishedAt}` : '';
    return `${result.runbook} run ${result.runId} already succeeded${at}: nothing to resume, nothing was changed`;
  }
  const lines = [`${result.runbook} run ${result.runId}: ${result.status}`];
  if (result.error) {
    lines.push(`error: ${result.error.message}`);
    if (result.error.hint) lines.push(`hint: ${result.error.hint}`);
  }
  const mark: Record<string, string> = { succeeded: 'ok  ', failed: 'FAIL', skipped: 'skip' };
  const notRun = new Map<string, number>();
  for (const s of result.steps) {
    if (s.status === 'not-run' || s.status === 'planned') {
      const why = s.reason ?? 'not reached';
      notRun.set(why, (notRun.get(why) ?? 0) + 1);
      continue;
    }
    const d = s.durationMs !== undefined ? ` ${(s.durationMs / 1000).toFixed(1)}s` : '';
    const why = s.error ? `: ${s.error}` : s.reason ? ` (${s.reason})` : '';
    lines.push(`  ${mark[s.status]} ${s.id}${d}${why}`);
  }
  for (const [why, n] of notRun) lines.push(`  ${n} step${n > 1 ? 's' : ''} not run (${why})`);
  return lines.join('\n');
}
