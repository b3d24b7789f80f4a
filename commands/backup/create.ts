import path from 'node:path';
import { Flags } from '@oclif/core';
import { RunbookCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';
import type { RunResult } from '../../src/runbook/runner.js';

export default class BackupCreate extends RunbookCommand {
  static override description = `Back up the whole site: all databases, the share, supporting content, logs, configs and certificates

Follows the guide's §5 with the services down only while the state is captured: Qlik services stop (rims
first, then central; the repository database keeps running), each database exports a snapshot and the share
is snapshotted (hard links here, a Volume Shadow Copy on Windows, or copied while down where neither is
possible), services start again (central first, then rims) and the dumps and copies are written from the
snapshots. Unchanged share files are hard-linked from the newest verified set in the same target, so each
set stays complete on its own. manifest.json is written last: a set without it is incomplete.

Passwords come from environment variables, never from arguments: the database superuser's from the
variable the site config names (default QSADMIN_DB_PASSWORD), the PFX password from QSADMIN_CERT_PASSWORD
(or the variable given with --cert-password-env).`;
  static override examples = [
    '<%= config.bin %> backup create --to D:\\QlikBackups',
    '<%= config.bin %> backup create --to /backups --dry-run',
    'QSADMIN_CERT_PASSWORD=... <%= config.bin %> backup create --to /backups --extra-path \\\\fs01\\QVD --json >> nightly.jsonl',
  ];
  static override help = EXIT_CODES_HELP;
  static override flags = {
    to: Flags.string({ description: 'folder that holds the backup sets, or a repository: azure://<account>/<container>/<prefix>, s3://<bucket>/<prefix> [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR' }),
    encrypt: Flags.boolean({ description: 'encrypt the set (AES-256-GCM, key wrapped by the passphrase in --passphrase-env) [default: on for azure:// and s3://, off for a plain folder]', allowNo: true }),
    'passphrase-env': Flags.string({ description: 'environment variable that holds the repository passphrase', default: 'QSADMIN_REPO_PASSPHRASE' }),
    'single-file': Flags.boolean({ description: 'pack the set into one .tar (no incremental linking for such sets)' }),
    compress: Flags.string({ description: 'compression of the database dumps (share files are stored as they are) [default: zstd when installed, else gzip]', options: ['zstd', 'gzip', 'none'] }),
    parallel: Flags.integer({ description: 'files copied and databases dumped at once', default: 4, min: 1, max: 32 }),
    'table-archive-min-size': Flags.integer({
      description: 'tables at least this many bytes big get a data archive of their own, hard-linked from the last verified set while PostgreSQL counts no change to them',
      default: 8 * 1024 * 1024,
      min: 1,
    }),
    'skip-share': Flags.boolean({ description: 'do not back up the share (databases, certificates and configs only)' }),
    'no-logs': Flags.boolean({ description: 'leave the local logs of the nodes out' }),
    'extra-path': Flags.string({ description: 'supporting content to include, e.g. a QVD folder (repeatable)', multiple: true }),
    'cert-password-env': Flags.string({ description: 'environment variable that holds the PFX password', default: 'QSADMIN_CERT_PASSWORD' }),
    'stop-timeout': Flags.integer({ description: 'seconds to wait for each service to stop', default: 60 }),
    'end-stuck-services': Flags.boolean({ description: 'end the process of a Qlik service still stopping at the timeout, logged (administrators do this by hand; not in the guide; never the database service)' }),
  };

  async run(): Promise<RunResult> {
    const { flags } = await this.parseCommon(BackupCreate);
    const { buildBackupCreate, newBackupInputs } = await import('../../src/runbooks/backup-create.js');
    let inputs;
    if (flags.resume) {
      const { readPlan } = await import('../../src/cli/runs.js');
      inputs = readPlan(this.stateDir, flags.resume).inputs as never;
    } else {
      const site = await this.site();
      const { resolveBackupTarget } = await import('../../src/backup/repo/target.js');
      const target = resolveBackupTarget(flags.to ?? path.join(this.stateDir, 'backups', site.name), this.stateDir, { encrypt: flags.encrypt, passphraseEnv: flags['passphrase-env'] });
      if (target.repository && flags['single-file']) {
        const { InputError } = await import('../../src/runbook/errors.js');
        throw new InputError('--single-file does not apply to a repository (its sets are content-addressed objects)', 'drop --single-file, or back up to a plain folder');
      }
      inputs = newBackupInputs({
        sitePath: this.sitePath(),
        to: target.to,
        repository: target.repository,
        singleFile: flags['single-file'],
        compress: flags.compress as never,
        parallel: flags.parallel,
        tableArchiveMinBytes: flags['table-archive-min-size'],
        skipShare: flags['skip-share'],
        noLogs: flags['no-logs'],
        extraPaths: flags['extra-path'],
        certPasswordEnv: flags['cert-password-env'],
        stopTimeoutMs: flags['stop-timeout'] * 1000,
        endStuck: flags['end-stuck-services'],
        toolVersion: this.config.version,
      });
    }
    const rb = await buildBackupCreate(inputs, { stateDir: this.stateDir, interactive: this.interactive(), dryRun: flags['dry-run'] });
    const result = await this.execute(rb, flags);
    // The lines a scheduled task's "> log" keeps: on stdout (progress and the step summary are on stderr).
    if (result.status === 'succeeded') for (const line of summaryLines(result.outputs)) this.say(line);
    return result;
  }
}

/** Where the set went, its size, the downtime and what was linked from the base set. */
function summaryLines(outputs: Record<string, unknown>): string[] {
  const b = outputs.backup as { id: string; dir: string; files: number; bytes: number; reusedFiles: number; reusedBytes?: number; downtimeMs: number; base: string | null } | undefined;
  if (!b) return [];
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const r = outputs['backup.repository'] as { url: string; objectsSent: number; objectsPresent: number; bytesSent: number } | undefined;
  const where = r ? `${r.url}#${b.id}` : ((outputs['backup.file'] as string | undefined) ?? b.dir);
  const pre = outputs.preflight as { estimateBytes?: number } | undefined;
  return [
    `backup ${b.id} written to ${where}`,
    `  ${b.files} files, ${mb(b.bytes)}; ${b.base ? `${b.reusedFiles} files (${mb(b.reusedBytes ?? 0)}) linked from base set ${b.base}, ${mb(b.bytes - (b.reusedBytes ?? 0))} written` : 'full set: nothing linked from an earlier set'}`,
    ...(r ? [`  uploaded: ${r.objectsSent} objects, ${mb(r.bytesSent)} sent; ${r.objectsPresent} objects already in the repository`] : []),
    `  services were down ${(b.downtimeMs / 1000).toFixed(1)} s${pre?.estimateBytes ? `; the free-space estimate was ${mb(pre.estimateBytes)}` : ''}`,
  ];
}
