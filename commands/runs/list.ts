import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import { listRuns, type RunSummary } from '../../src/cli/runs.js';

export default class RunsList extends QsadminCommand {
  static override description = 'List the runs in the state dir, newest first, with their status';
  static override examples = ['<%= config.bin %> runs list', '<%= config.bin %> runs list --json --state-dir /var/lib/qsadmin'];
  static override help = EXIT_CODES_HELP;

  async run(): Promise<{ runs: RunSummary[] }> {
    await this.parseCommon(RunsList);
    const runs = listRuns(this.stateDir);
    if (!runs.length) this.say(`no runs in ${this.stateDir}`);
    for (const r of runs) {
      this.say(`${r.runId}  ${r.status.padEnd(11)} ${r.stepsDone}/${r.stepsTotal} steps  ${r.runbook}  ${r.site}`);
    }
    return { runs };
  }
}
