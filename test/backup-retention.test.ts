// Retention rules: daily/weekly/monthly buckets, the newest verified set is never removed, incomplete sets untouched.
import { describe, expect, it } from 'vitest';
import { applyRetention, isoWeekKey } from '../src/backup/retention.js';
import type { BackupSetInfo } from '../src/backup/sets.js';

function set(id: string, created: string, opts: Partial<BackupSetInfo> = {}): BackupSetInfo {
  return { id, dir: `/b/${id}`, created, complete: true, verified: { ok: true, level: 'quick', at: created, problems: [] }, bytes: 1, writtenBytes: 1, files: 1, base: null, single: false, ...opts };
}

describe('retention', () => {
  it('computes ISO weeks across a year boundary', () => {
    expect(isoWeekKey(new Date('2026-11-26T00:00:00Z'))).toBe('2026-W48');
    expect(isoWeekKey(new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53');
    expect(isoWeekKey(new Date('2021-01-03T00:00:00Z'))).toBe('2020-W53');
  });

  it('keeps the newest set per day, week and month up to the counts', () => {
    const sets = [
      set('d1b', '2026-11-26T14:00:00Z'),
      set('d1a', '2026-11-26T02:00:00Z'),
      set('d2', '2026-11-25T02:00:00Z'),
      set('d3', '2026-11-24T02:00:00Z'),
      set('w-prev', '2026-11-18T02:00:00Z'),
      set('m-prev', '2026-10-10T02:00:00Z'),
      set('old', '2026-09-01T02:00:00Z'),
    ];
    const d = Object.fromEntries(applyRetention(sets, { keepDaily: 2, keepWeekly: 2, keepMonthly: 2 }).map((x) => [x.id, x]));
    expect(d.d1b.keep).toBe(true);
    expect(d.d1b.reasons).toContain('daily 2026-11-26');
    expect(d.d1a.keep).toBe(false);
    expect(d.d2.reasons).toEqual(['daily 2026-11-25']);
    expect(d.d3.keep).toBe(false);
    expect(d['w-prev'].reasons).toEqual(['weekly 2026-W47']);
    expect(d['m-prev'].reasons).toEqual(['monthly 2026-10']);
    expect(d.old.keep).toBe(false);
    expect(d.old.reasons).toEqual(['not kept by any rule']);
  });

  it('never removes the newest verified set, and leaves incomplete sets alone', () => {
    const sets = [
      set('new-unverified', '2026-11-26T02:00:00Z', { verified: null }),
      set('incomplete', '2026-11-26T03:00:00Z', { complete: false, verified: null }),
      set('verified', '2026-11-20T02:00:00Z'),
    ];
    const d = Object.fromEntries(applyRetention(sets, { keepDaily: 1, keepWeekly: 0, keepMonthly: 0 }).map((x) => [x.id, x]));
    expect(d['new-unverified'].keep).toBe(true);
    expect(d.verified.keep).toBe(true);
    expect(d.verified.reasons).toContain('newest verified set (never removed)');
    expect(d.incomplete.keep).toBe(true);
  });
});
