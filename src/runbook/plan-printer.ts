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

/** One line per step with its status and duration, for the end of a run. */
export function formatSummary(result: RunResult): string {
  const mark: Record<string, string> = { succeeded: 'ok  ', failed: 'FAIL', skipped: 'skip', 'not-run': '--  ', planned: '    ' };
  const lines = result.steps.map((s) => {
    const d = s.durationMs !== undefined ? ` ${(s.durationMs / 1000).toFixed(1)}s` : '';
    const why = s.error ? `: ${s.error}` : s.reason ? ` (${s.reason})` : '';
    return `  ${mark[s.status] ?? s.status} ${s.id}${d}${why}`;
  });
  lines.unshift(`${result.runbook} run ${result.runId}: ${result.status}`);
  if (result.error) {
    lines.push(`error: ${result.error.message}`);
    if (result.error.hint) lines.push(`hint: ${result.error.hint}`);
  }
  return lines.join('\n');
}
