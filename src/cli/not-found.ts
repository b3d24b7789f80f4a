// A mistyped command: name the closest commands and exit 2 (bad input), instead of oclif's bare "not found" (127).
import type { Hook } from '@oclif/core';
import { EXIT } from '../runbook/errors.js';

/** Edit distance between two strings (insert, delete, substitute; an adjacent swap counts once). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known commands closest to a mistyped one (space-separated), best first. */
export function suggestCommands(typed: string, known: string[]): string[] {
  const t = typed.toLowerCase();
  const scored = known.map((k) => {
    // "backup creat" is closer to "backup create" than to "backup list": compare whole ids, and let a typed
    // prefix of a command (or a command's last word alone, "verify") count as close.
    let score = editDistance(t, k);
    if (k.startsWith(t) || k.split(' ').pop() === t) score = Math.min(score, 1);
    return { k, score };
  });
  const limit = Math.max(2, Math.floor(t.length / 3));
  const near = scored.filter((s) => s.score <= limit).sort((a, b) => a.score - b.score || a.k.localeCompare(b.k));
  // Only the best few: "backup creat" should suggest create, not every backup command of similar length.
  return near.filter((s) => s.score <= near[0].score + 1).slice(0, 3).map((s) => s.k);
}

const hook: Hook.CommandNotFound = async function (opts) {
  const typed = opts.id.replace(/:/g, ' ');
  const known = [...new Set([...opts.config.commandIDs, ...opts.config.topics.map((t) => t.name)])].map((id) => id.replace(/:/g, ' '));
  const near = suggestCommands(typed, known);
  const hint = near.length ? `did you mean: ${near.map((n) => `qsadmin ${n}`).join(', ')}?` : 'see: qsadmin help';
  process.stderr.write(`Error: "${typed}" is not a qsadmin command\nHint: ${hint}\n`);
  process.exit(EXIT.badInput);
};

export default hook;
