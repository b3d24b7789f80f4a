import { Args, Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { AuditRow } from '../../src/rules/audit.js';

interface AuditResult {
  source: string;
  user: string;
  groups: string[];
  rulesEvaluated: number;
  note: string;
  notEvaluated: string[];
  resources: AuditRow[];
}

export default class RulesAudit extends QsadminCommand {
  static override description = `List what a user may do on each stream, data connection and app, by the rules of a set

Evaluates the security rules of SOURCE (an export folder, a backup set, or a site config; default: the live site of
--site) for the user and the groups given, on every stream, data connection and app the set has values for, and on a
new one of each type (for Create). Each allowed action names the rule that grants it. Only the rules of the set are
evaluated: a site's default rules are not included unless they were exported with --include-defaults, so "not
allowed" here means "not allowed by these rules". = between a user's groups and a custom property means "contains".
environment.* is not known outside a request and counts as empty. QRS's own audit (POST /qrs/systemrule/security/
audit) is not consulted.`;
  static override examples = [
    '<%= config.bin %> rules audit ./rules --user CORP\\\\carol --groups proj1_aud1',
    '<%= config.bin %> rules audit ./rules --user bob --groups role_dev,proj1_dev --resource "DataConnection_*" --action read',
  ];
  static override help = EXIT_CODES_HELP;
  static override args = { source: Args.string({ description: 'export folder, backup set or site config [default: the live site]', required: false }) };
  static override flags = {
    user: Flags.string({ description: 'the user: DIRECTORY\\userid or userid', required: true }),
    groups: Flags.string({ description: 'the user\'s groups (user.group), comma-separated', default: '' }),
    roles: Flags.string({ description: 'the user\'s admin roles (user.roles), comma-separated', default: '' }),
    resource: Flags.string({ description: 'only resources this filter covers, e.g. Stream_* or App_*' }),
    action: Flags.string({ description: 'only this action', options: ['create', 'read', 'update', 'delete', 'export', 'publish', 'change owner', 'change role', 'export data'] }),
    'include-defaults': Flags.boolean({ description: 'from a site or a backup, evaluate every default rule too' }),
  };

  async run(): Promise<AuditResult> {
    const { args, flags } = await this.parseCommon(RulesAudit);
    const { loadRuleSet } = await import('../../src/runbooks/rules-source.js');
    const { audit } = await import('../../src/rules/audit.js');
    const { ACTIONS } = await import('../../src/rules/model.js');
    const { set, label } = await loadRuleSet(args.source ?? this.sitePath(), { includeDefaults: flags['include-defaults'] });
    const [dirPart, idPart] = flags.user.includes('\\') ? flags.user.split('\\', 2) : ['', flags.user];
    const split = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
    const user = { userDirectory: dirPart, userId: idPart, groups: split(flags.groups), roles: split(flags.roles) };
    const action = flags.action ? ACTIONS.find((a) => a.toLowerCase() === flags.action) : undefined;
    let notEvaluated: string[] = [];
    const rows = audit(set, user, { resource: flags.resource, action, onUnparsed: (n) => (notEvaluated = n) });
    const note = `only the ${set.rules.length} rules of ${label} are evaluated; the site's default rules are not included unless they were exported with --include-defaults`;
    const lines = [`${flags.user} (groups ${user.groups.join(', ') || 'none'}) by ${label}:`];
    for (const r of rows) {
      lines.push(`  ${r.type} ${r.name}: ${r.grants.length ? r.grants.map((g) => `${g.action} (${g.rules.join(', ')})`).join(', ') : 'nothing'}`);
    }
    lines.push(note);
    if (notEvaluated.length) lines.push(`rules that do not parse grant nothing here: ${notEvaluated.join(', ')} (qsadmin rules lint shows why)`);
    this.say(lines.join('\n'));
    return { source: label, user: flags.user, groups: user.groups, rulesEvaluated: set.rules.length, note, notEvaluated, resources: rows };
  }
}
