// SQL for the emulated repository databases: the QSR schema with quoted, case-exact table names, and the others.
import { ident } from '../../postgres/client.js';
import { OTHER_DB_SQL, type RepositoryDatabase } from './databases.js';
import { QSR_FOREIGN_KEYS, QSR_INDEXES, QSR_TABLES, qsrColumns } from './qsr-tables.js';

export { QSR_TABLES, qsrColumns } from './qsr-tables.js';
export { REPOSITORY_DATABASES, type RepositoryDatabase } from './databases.js';

// CREATE TABLE for one QSR table, e.g. CREATE TABLE "ServerNodeConfigurations" ("ID" uuid PRIMARY KEY, ...).
export function qsrCreateTableSql(table: string): string {
  const cols = qsrColumns(table).map(([name, type]) => `  ${ident(name)} ${type}`);
  return `CREATE TABLE ${ident(table)} (\n${cols.join(',\n')}\n)`;
}

// Every statement that creates the QSR schema: tables, then indexes, then foreign keys.
export function qsrSchemaSql(): string[] {
  const out = QSR_TABLES.map(qsrCreateTableSql);
  for (const [table, cols, unique] of QSR_INDEXES) {
    const name = ident(`IX_${table}_${cols.join('_')}`.slice(0, 63)); // PostgreSQL's identifier limit
    out.push(`CREATE ${unique ? 'UNIQUE ' : ''}INDEX ${name} ON ${ident(table)} (${cols.map(ident).join(', ')})`);
  }
  for (const [table, col, target] of QSR_FOREIGN_KEYS) {
    const name = ident(`FK_${table}_${target}_${col}`.slice(0, 63));
    out.push(`ALTER TABLE ${ident(table)} ADD CONSTRAINT ${name} FOREIGN KEY (${ident(col)}) REFERENCES ${ident(target)} ("ID")`);
  }
  return out;
}

// The statements that create a repository database's schema.
export function databaseSchemaSql(db: RepositoryDatabase): string[] {
  return db === 'QSR' ? qsrSchemaSql() : [...OTHER_DB_SQL[db]];
}
