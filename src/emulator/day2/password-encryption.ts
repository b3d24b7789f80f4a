// The repository database as Qlik's installer leaves it (guide §6.7: "The default password encryption for the
// PostgreSQL database is MD5"): password_encryption = md5 and md5 lines in pg_hba.conf. initdb here defaults to
// SCRAM, so an emulated site that asks for md5 is switched before its first start, and the superuser's password is
// stored again as an md5 hash once the server runs (the repository role is created afterwards, under md5).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ident, literal, withClient } from '../../postgres/client.js';
import type { PgCluster } from '../../postgres/cluster.js';
import { switchHbaMethod } from '../../postgres/hba.js';

export type { PasswordMethod as PasswordEncryption } from '../../postgres/hba.js';

/** Before the first start: password_encryption = md5 and md5 in pg_hba.conf. */
export async function configureMd5(cluster: PgCluster): Promise<void> {
  await cluster.writeSettings({ password_encryption: 'md5' });
  const hba = path.join(cluster.dataDir, 'pg_hba.conf');
  await writeFile(hba, switchHbaMethod(await readFile(hba, 'utf8'), 'scram-sha-256', 'md5'));
}

/** Once the server runs: store the superuser's password again, now as an md5 hash. */
export async function rehashSuperuserMd5(cluster: PgCluster): Promise<void> {
  await withClient(cluster.conn(), async (c) => {
    await c.query(`SET password_encryption = 'md5'`);
    await c.query(`ALTER ROLE ${ident(cluster.superuser)} WITH PASSWORD ${literal(cluster.password)}`);
  });
}
