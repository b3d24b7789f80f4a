// Find the run a test just started. Run ids carry a timestamp to the second and a random suffix, so two
// runs of one second sort by chance: order by when each run wrote its plan instead.
import fs from 'node:fs';
import path from 'node:path';

/** The id of the newest run in stateDir whose id starts with prefix. Throws when there is none. */
export function newestRun(stateDir: string, prefix = ''): string {
  const dir = path.join(stateDir, 'runs');
  const started = (id: string) => fs.statSync(path.join(dir, id, 'plan.json')).mtimeMs;
  const ids = fs
    .readdirSync(dir)
    .filter((id) => id.startsWith(prefix) && fs.existsSync(path.join(dir, id, 'plan.json')))
    .sort((a, b) => started(a) - started(b));
  if (!ids.length) throw new Error(`no run starting with "${prefix}" in ${dir}`);
  return ids[ids.length - 1];
}
