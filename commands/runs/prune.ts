import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { PruneResult } from '../../src/cli/runs.js';

export default class RunsPrune extends QsadminCommand {
  static override description = `Remove old run folders from the state dir

Removes the runs that ended longer ago than --older-than. Kept whatever their age: a run still going; a failed or
interrupted run, which can still be resumed (unless --all); a run that holds safety dumps, such as the copies of the
databases a restore replaced (unless --safety-dumps).`;
  static override examples = [
    '<%= config.bin %> runs prune --older-than 30d --dry-run',
    '<%= config.bin %> runs prune --older-than 8w --all --json',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    'older-than': Flags.string({ description: 'age of the runs to remove: 12h, 30d, 8w', required: true }),
    all: Flags.boolean({ description: 'also remove failed and interrupted runs (they can no longer be resumed)' }),
    'safety-dumps': Flags.boolean({ description: 'also remove runs that hold safety dumps (e.g. the databases a restore replaced)' }),
    'dry-run': Flags.boolean({ description: 'list what would be removed and remove nothing', env: 'QSADMIN_DRY_RUN' }),
  };

  async run(): Promise<PruneResult> {
    const { flags } = await this.parseCommon(RunsPrune);
    const { parseAge, pruneRuns } = await import('../../src/cli/runs.js');
    const r = pruneRuns(this.stateDir, { olderThanMs: parseAge(flags['older-than']), all: flags.all, safetyDumps: flags['safety-dumps'], dryRun: flags['dry-run'] });
    const verb = r.dryRun ? 'would remove' : 'removed';
    for (const x of r.removed) this.say(`${verb} ${x.runId}  ${x.status}  ended ${x.endedAt}  ${(x.bytes / 1048576).toFixed(1)} MiB`);
    for (const x of r.kept) this.say(`kept ${x.runId}: ${x.reason}`);
    this.say(`${verb} ${r.removed.length} run(s), ${(r.bytes / 1048576).toFixed(1)} MiB; kept ${r.kept.length} old run(s) in ${this.stateDir}`);
    return r;
  }
}
