// Argument lists for the PostgreSQL client tools. They never carry a password: that goes through the
// child's environment (PGPASSWORD) or a pgpass file. Every list has -w so a tool fails rather than prompts.

export interface PgTarget {
  host: string;
  port: number;
  user: string;
}

export type DumpFormat = 'custom' | 'tar' | 'directory' | 'plain';

export interface PgDumpArgs extends PgTarget {
  db: string;
  format: DumpFormat;
  /** Output file (directory for format "directory"); stdout when absent. */
  file?: string;
  /** Exported snapshot to dump from (pg_export_snapshot()), for consistent multi-database sets. */
  snapshot?: string;
  /** Include large objects (-b); on by default, as in the guide's §5 command. */
  blobs?: boolean;
  /** Compression level 0-9 (custom, directory, plain). */
  compress?: number;
  /** Parallel jobs (format "directory" only). */
  jobs?: number;
  noOwner?: boolean;
  /** Only these tables (-t, exact patterns); with dataOnly: a data archive of them. */
  tables?: string[];
  /** Leave these tables' rows out (--exclude-table-data): they go into archives of their own. */
  excludeTableData?: string[];
  /** Rows only (-a), no schema. */
  dataOnly?: boolean;
}

export interface PgRestoreArgs extends PgTarget {
  /** Database to restore into (with create: the database to connect to first). */
  db: string;
  file: string;
  jobs?: number;
  clean?: boolean;
  ifExists?: boolean;
  create?: boolean;
  noOwner?: boolean;
  /** Role to SET ROLE to before restoring. */
  role?: string;
  exitOnError?: boolean;
}

export interface PgDumpallArgs extends PgTarget {
  file?: string;
  /** Roles and tablespaces only (-g); the default, since databases are dumped one by one. */
  globalsOnly?: boolean;
  /** Leave passwords out of the dump (the backup set does, DESIGN "Backup set"). */
  noRolePasswords?: boolean;
}

export interface PsqlArgs extends PgTarget {
  db: string;
  file?: string;
  command?: string;
  /** Stop at the first error (default true). */
  onErrorStop?: boolean;
}

export interface CreatedbArgs extends PgTarget {
  db: string;
  owner?: string;
  /** template0 by default (guide §5.3: createdb -T template0). */
  template?: string;
  encoding?: string;
}

export interface DropdbArgs extends PgTarget {
  db: string;
  ifExists?: boolean;
  /** Terminate other sessions first (--force, PostgreSQL 13+ client and server). */
  force?: boolean;
}

const FORMAT_FLAG: Record<DumpFormat, string> = { custom: 'c', tar: 't', directory: 'd', plain: 'p' };

// The connection part every tool shares: host, port, user, never prompt.
export function connArgs(t: PgTarget): string[] {
  return ['-h', t.host, '-p', String(t.port), '-U', t.user, '-w'];
}

// pg_dump arguments for one database.
export function pgDumpArgs(o: PgDumpArgs): string[] {
  if (o.format === 'directory' && !o.file) throw new Error(`pg_dump of "${o.db}" in directory format needs an output folder (file)`);
  if (o.jobs && o.format !== 'directory') throw new Error(`pg_dump of "${o.db}": parallel jobs need the directory format, not ${o.format}`);
  const a = [...connArgs(o), '-F', FORMAT_FLAG[o.format]];
  if (o.blobs ?? true) a.push('-b');
  if (o.compress !== undefined && o.format !== 'tar') a.push('-Z', String(o.compress));
  if (o.jobs) a.push('-j', String(o.jobs));
  if (o.snapshot) a.push(`--snapshot=${o.snapshot}`);
  if (o.noOwner) a.push('-O');
  if (o.dataOnly) a.push('-a');
  for (const t of o.tables ?? []) a.push('-t', t);
  for (const t of o.excludeTableData ?? []) a.push(`--exclude-table-data=${t}`);
  if (o.file) a.push('-f', o.file);
  a.push(o.db);
  return a;
}

// pg_restore arguments to restore a dump into a database.
export function pgRestoreArgs(o: PgRestoreArgs): string[] {
  const a = [...connArgs(o), '-d', o.db];
  if (o.jobs && o.jobs > 1) a.push('-j', String(o.jobs));
  if (o.clean) a.push('-c');
  if (o.ifExists) a.push('--if-exists');
  if (o.create) a.push('-C');
  if (o.noOwner) a.push('-O');
  if (o.role) a.push(`--role=${o.role}`);
  if (o.exitOnError) a.push('-e');
  a.push(o.file);
  return a;
}

// pg_restore arguments to print a dump's table of contents (no connection).
export function pgRestoreListArgs(file: string): string[] {
  return ['--list', file];
}

// pg_dumpall arguments (globals only unless told otherwise).
export function pgDumpallArgs(o: PgDumpallArgs): string[] {
  const a = [...connArgs(o)];
  if (o.globalsOnly ?? true) a.push('-g');
  if (o.noRolePasswords) a.push('--no-role-passwords');
  if (o.file) a.push('-f', o.file);
  return a;
}

// psql arguments to run a script file or one command, without reading ~/.psqlrc.
export function psqlArgs(o: PsqlArgs): string[] {
  if (!o.file && !o.command) throw new Error('psql needs a script file or a command');
  const a = [...connArgs(o), '-d', o.db, '-X', '-q'];
  if (o.onErrorStop ?? true) a.push('-v', 'ON_ERROR_STOP=1');
  if (o.file) a.push('-f', o.file);
  if (o.command) a.push('-c', o.command);
  return a;
}

// createdb arguments: UTF8 from template0 unless told otherwise.
export function createdbArgs(o: CreatedbArgs): string[] {
  const a = [...connArgs(o), '-T', o.template ?? 'template0', '-E', o.encoding ?? 'UTF8'];
  if (o.owner) a.push('-O', o.owner);
  a.push(o.db);
  return a;
}

// dropdb arguments.
export function dropdbArgs(o: DropdbArgs): string[] {
  const a = [...connArgs(o)];
  if (o.ifExists) a.push('--if-exists');
  if (o.force) a.push('--force');
  a.push(o.db);
  return a;
}
