// Does the backup's site have the nodes this site has? A restored QSR that does not name a node leaves that node's
// repository unable to start (it finds no node of its hostname), so a difference is refused before anything stops,
// unless --central-only says to treat the rims as the guide's §5.7 does (stopped, then removed and re-added).
import { sameName } from '../certs/classify.js';

export interface NodeNames {
  hostname: string;
  central: boolean;
}

/** What differs between the backup's nodes and the target's, as lines (empty when they match). */
export function nodeDifferences(backup: NodeNames[], target: NodeNames[]): string[] {
  const out: string[] = [];
  const has = (list: NodeNames[], h: string) => list.some((n) => sameName(n.hostname, h));
  for (const t of target) if (!has(backup, t.hostname)) out.push(`${t.hostname} (${t.central ? 'central' : 'rim'} on this site) is not a node of the backup's site`);
  for (const b of backup) if (!has(target, b.hostname)) out.push(`${b.hostname} (${b.central ? 'central' : 'rim'} in the backup) is not a node of this site`);
  return out;
}

/** The refusal for a topology mismatch: what differs, and the flags that map it. */
export function topologyMessage(diff: string[], backupCount: number, targetCount: number): { message: string; hint: string } {
  return {
    message: `the backup is of a ${backupCount}-node site and this site has ${targetCount} node(s) with other hostnames; nothing was changed:\n${diff.map((d) => `  - ${d}`).join('\n')}`,
    hint: 'restore onto a site with the same nodes; or pass --central-only to restore the central node only (rim nodes are stopped and stay down: remove and re-add them, guide §5.7); a new central hostname also needs --hostname',
  };
}
