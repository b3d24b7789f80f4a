// Retention: keep the newest set of each of the last N days, weeks and months; never the newest verified set.
import type { BackupSetInfo } from './sets.js';

export interface RetentionPolicy {
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  /** Also keep the newest N sets whatever their date. */
  keepLast?: number;
}

export interface RetentionDecision {
  id: string;
  keep: boolean;
  /** Every reason it is kept, or why it goes: shown to the operator as data. */
  reasons: string[];
}

const dayKey = (d: Date) => d.toISOString().slice(0, 10);
const monthKey = (d: Date) => d.toISOString().slice(0, 7);

/** ISO 8601 week, e.g. "2026-W48". */
export function isoWeekKey(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((t.getTime() - yearStart.getTime()) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/** Decide, for every set, whether the policy keeps it. Incomplete sets are never touched here. */
export function applyRetention(sets: BackupSetInfo[], p: RetentionPolicy): RetentionDecision[] {
  const complete = sets.filter((s) => s.complete).sort((a, b) => b.created.localeCompare(a.created));
  const reasons = new Map<string, string[]>(sets.map((s) => [s.id, []]));
  const rule = (name: string, n: number, key: (d: Date) => string) => {
    const seen = new Set<string>();
    for (const s of complete) {
      if (seen.size >= n) break;
      const k = key(new Date(s.created));
      if (seen.has(k)) continue;
      seen.add(k);
      reasons.get(s.id)!.push(`${name} ${k}`);
    }
  };
  rule('daily', p.keepDaily, dayKey);
  rule('weekly', p.keepWeekly, isoWeekKey);
  rule('monthly', p.keepMonthly, monthKey);
  complete.slice(0, p.keepLast ?? 0).forEach((s, i) => reasons.get(s.id)!.push(`last #${i + 1}`));
  const newestVerified = complete.find((s) => s.verified?.ok);
  if (newestVerified) reasons.get(newestVerified.id)!.push('newest verified set (never removed)');

  return sets.map((s) => {
    if (!s.complete) return { id: s.id, keep: true, reasons: ['incomplete: left for `qsadmin backup list` to report; remove by hand once no run resumes it'] };
    const r = reasons.get(s.id)!;
    return r.length ? { id: s.id, keep: true, reasons: r } : { id: s.id, keep: false, reasons: ['not kept by any rule'] };
  });
}
