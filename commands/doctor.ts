import { Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../src/cli/base.js';
import { EXIT } from '../src/runbook/errors.js';

export default class Doctor extends QsadminCommand {
  static override description = `Check the health of the site; exit 4 when something needs attention

Read-only. On every node: certs check (expiry within --warn-days, extensions, chain, duplicates), the state of
each Qlik service and of the repository database, QRS's servicestate on 4444 (2 = running), the number of trusted
root certificates (over 300, Windows truncates the list in the TLS handshake, guide §6.1), the clock against this
machine's (from the Date header of 4444), and free space under %ProgramData%\\Qlik\\Sense; then the guide's known
problems in the logs of the last 24 h (as qsadmin logs collect finds them, §7, §8).`;
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json --warn-days 45'];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    'warn-days': Flags.integer({ description: 'certificates that expire within this many days need attention', default: 30 }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parseCommon(Doctor);
    const { runDoctor } = await import('../src/doctor/doctor.js');
    const r = await runDoctor(await this.site(), { warnDays: flags['warn-days'], interactive: this.interactive() });
    const lines = r.checks.map((c) => `${c.status === 'ok' ? 'ok       ' : 'ATTENTION'} ${c.id.padEnd(24)} ${c.detail}${c.fix && c.status !== 'ok' ? `\n          fix: ${c.fix}` : ''}`);
    const attention = r.checks.filter((c) => c.status !== 'ok').length;
    this.say([...lines, '', r.ok ? 'all checks ok' : `${attention} check(s) need attention (exit 4)`].join('\n'));
    process.exitCode = r.ok ? EXIT.ok : EXIT.verificationFailed;
    return { status: r.ok ? 'ok' : 'attention', exitCode: process.exitCode, ...r };
  }
}
