import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { QsadminCommand, EXIT_CODES_HELP } from '../../src/cli/base.js';

interface ShowResult {
  id: string;
  path: string;
  created: string;
  completed: string;
  downtimeMs: number;
  base: string | null;
  compress: string;
  site: string;
  nodes: string[];
  postgres: { server: string; client: string };
  databases: Array<{ name: string; owner: string; dumped: boolean; sizeBytes: number; dumpBytes: number; tables: number; reason?: string }>;
  share: Array<{ role: string; path: string; stored: string; files: number; bytes: number }>;
  kinds: Record<string, { files: number; bytes: number; reusedFiles: number }>;
  totals: { files: number; bytes: number; reusedFiles: number; reusedBytes: number; writtenBytes: number };
}

export default class BackupShow extends QsadminCommand {
  static override description = `Show what a backup set holds: databases and their sizes, the share folders, downtime, base set

The set is a folder, a .tar, or an id from \`backup list\` (looked up in --to, else the default backup folder).
Reads only the manifest; \`backup verify\` checks the contents.`;
  static override examples = ['<%= config.bin %> backup show 20261126T020000123Z --to /backups', '<%= config.bin %> backup show /backups/20261126T020000123Z.tar --json'];
  static override help = EXIT_CODES_HELP;
  static override args = { backup: Args.string({ description: 'backup set folder, .tar, or id', required: true }) };
  static override flags = {
    to: Flags.string({ description: 'folder that holds the backup sets, or a repository URL, for an id [default: <state-dir>/backups/<site>]', env: 'QSADMIN_BACKUP_DIR' }),
    'passphrase-env': Flags.string({ description: 'environment variable that holds the repository passphrase (encrypted repositories)', default: 'QSADMIN_REPO_PASSPHRASE' }),
  };

  async run(): Promise<ShowResult> {
    const { args, flags } = await this.parseCommon(BackupShow);
    const { resolveSetRef, looksLikeBackupId, manifestOfSet } = await import('../../src/backup/sets.js');
    const { repositorySetRef, openRepository } = await import('../../src/backup/repo/cli.js');
    const inRepo = repositorySetRef(args.backup, flags.to);
    let setPath: string;
    let m: import('../../src/backup/manifest.js').Manifest;
    if (inRepo) {
      const repo = await openRepository(inRepo.url, flags['passphrase-env']);
      setPath = `${repo.url}#${inRepo.id}`;
      m = (await repo.manifest(inRepo.id)) as never;
    } else {
      const folders = [flags.to, looksLikeBackupId(args.backup) && !flags.to ? path.join(this.stateDir, 'backups', (await this.site()).name) : undefined];
      setPath = resolveSetRef(args.backup, folders);
      m = await manifestOfSet(setPath);
    }
    const kinds: ShowResult['kinds'] = {};
    for (const f of m.files) {
      const k = (kinds[f.kind] ??= { files: 0, bytes: 0, reusedFiles: 0 });
      k.files++;
      k.bytes += f.bytes;
      if (f.reused) k.reusedFiles++;
    }
    const r: ShowResult = {
      id: m.id,
      path: setPath,
      created: m.created,
      completed: m.completed,
      downtimeMs: m.downtimeMs,
      base: m.base,
      compress: m.compress,
      site: m.site.name,
      nodes: m.site.nodes.map((n) => `${n.name} (${n.hostname}, ${n.role})`),
      postgres: { server: m.site.database.serverVersion, client: m.site.database.clientVersion },
      databases: m.databases.map((d) => {
        const dumps = m.files.filter((f) => f.database === d.name && f.kind === 'db');
        return { name: d.name, owner: d.owner, dumped: d.dumped, sizeBytes: d.sizeBytes, dumpBytes: dumps.reduce((a, f) => a + f.bytes, 0), tables: Object.keys(d.rowCounts ?? {}).length, reason: d.reason };
      }),
      share: m.site.share.map((s) => {
        const files = m.files.filter((f) => f.path.startsWith(`${s.stored}/`));
        return { role: s.role, path: s.path, stored: s.stored, files: files.length, bytes: files.reduce((a, f) => a + f.bytes, 0) };
      }),
      kinds,
      totals: m.totals,
    };
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    this.say(
      [
        `backup ${r.id}  ${r.path}`,
        `  created ${r.created}, completed ${r.completed}; services down ${(r.downtimeMs / 1000).toFixed(1)} s`,
        `  site ${r.site}: ${r.nodes.join(', ')}; PostgreSQL ${r.postgres.server} (dumped with client ${r.postgres.client}), dumps ${r.compress}`,
        `  ${r.base ? `incremental on ${r.base}: ${r.totals.reusedFiles} files (${mb(r.totals.reusedBytes)}) linked from it` : 'full: nothing linked from another set'}`,
        `  total ${r.totals.files} files, ${mb(r.totals.bytes)} (${mb(r.totals.writtenBytes)} written)`,
        '  databases:',
        ...r.databases.map((d) => `    ${d.name.padEnd(16)} owner ${d.owner}, ${mb(d.sizeBytes)} in PostgreSQL${d.dumped ? `, dump ${mb(d.dumpBytes)}, ${d.tables} tables counted` : `, not dumped${d.reason ? `: ${d.reason}` : ''}`}`),
        '  share:',
        ...(r.share.length ? r.share.map((s) => `    ${s.role.padEnd(24)} ${s.path}: ${s.files} files, ${mb(s.bytes)}`) : ['    (not backed up)']),
        '  by kind:',
        ...Object.entries(r.kinds).map(([k, v]) => `    ${k.padEnd(14)} ${v.files} files, ${mb(v.bytes)}${v.reusedFiles ? ` (${v.reusedFiles} linked)` : ''}`),
      ].join('\n'),
    );
    return r;
  }
}
