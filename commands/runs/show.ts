import { Args } from '@oclif/core';
import { QsadminCommand } from '../../src/cli/base.js';
import { showRun, type RunDetails } from '../../src/cli/runs.js';

export default class RunsShow extends QsadminCommand {
  static override description = 'Show one run: its plan, the state of every step, and the end of its log';
  static override examples = ['<%= config.bin %> runs show backup-create-20261126T020000Z-1a2b3c'];
  static override args = { id: Args.string({ description: 'run id (see `qsadmin runs list`)', required: true }) };

  async run(): Promise<RunDetails> {
    const { args } = await this.parseCommon(RunsShow);
    const d = showRun(this.stateDir, args.id);
    this.say(`${d.runId}  ${d.runbook}  ${d.status}  site ${d.site}  created ${d.createdAt}`);
    for (const s of d.steps) this.say(`  ${s.status.padEnd(9)} ${s.id}${s.durationMs !== undefined ? ` ${(s.durationMs / 1000).toFixed(1)}s` : ''}${s.error ? `: ${s.error}` : ''}`);
    if (d.logTail.length) this.say(`log (${d.logFile}):\n${d.logTail.join('\n')}`);
    return d;
  }
}
