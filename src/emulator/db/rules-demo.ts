// The objects of the security-rules demo (seed 004, the customer case), added to an emulated site's QSR: streams
// Proj1_Aud1 and Proj1_Aud2, the data connection DC_Proj1, the apps Dashboard 1 (in Proj1_Aud1) and Dashboard 4
// (in Proj1_Aud2) with their files on the share, and the users alice (role_admin, proj1_admin), bob (role_dev,
// proj1_dev) and carol (proj1_aud1) of directory CORP, their groups as UserAttributes rows. No custom properties
// and no rules: `qsadmin rules import templates/rules/demo` brings those (the demo set).
import path from 'node:path';
import type pg from 'pg';
import { withClient, type PgConn } from '../../postgres/client.js';
import { writeRandomFile } from './share-files.js';
import { inTransaction, insertRows, md5Uuid } from './sql.js';

const BY = 'INTERNAL\\sa_repository';
const id = (key: string) => md5Uuid(`rules-demo-${key}`);

export const RULES_DEMO_USERS: ReadonlyArray<{ userId: string; groups: string[] }> = [
  { userId: 'alice', groups: ['role_admin', 'proj1_admin'] },
  { userId: 'bob', groups: ['role_dev', 'proj1_dev'] },
  { userId: 'carol', groups: ['proj1_aud1'] },
];

/** Add the demo objects to QSR (db: the QSR database); appsDir is the share's Apps folder on this machine. */
export async function seedRulesDemo(db: PgConn, appsDir: string): Promise<void> {
  await withClient(db, (c: pg.Client) =>
    inTransaction(c, async () => {
      const owner = id('user-alice');
      await insertRows(c, 'Users', RULES_DEMO_USERS.map((u) => ({ ID: id(`user-${u.userId}`), ModifiedByUserName: BY, UserId: u.userId, UserDirectory: 'CORP', Name: u.userId[0].toUpperCase() + u.userId.slice(1), Roles: '' })));
      await insertRows(c, 'UserAttributes', RULES_DEMO_USERS.flatMap((u) => u.groups.map((g) => ({ ID: id(`attr-${u.userId}-${g}`), ModifiedByUserName: BY, UserID: id(`user-${u.userId}`), AttributeType: 'Group', AttributeValue: g, ExternalId: `${u.userId}-${g}` }))));
      await insertRows(c, 'Streams', ['Proj1_Aud1', 'Proj1_Aud2'].map((Name) => ({ ID: id(`stream-${Name}`), ModifiedByUserName: BY, Name, OwnerID: owner })));
      await insertRows(c, 'DataConnections', [{ ID: id('dc-DC_Proj1'), ModifiedByUserName: BY, Name: 'DC_Proj1', ConnectionString: '\\\\fs\\projects\\proj1\\excel\\', Type: 'folder', OwnerID: owner }]);
      const apps = [['Dashboard 1', 'Proj1_Aud1'], ['Dashboard 4', 'Proj1_Aud2']] as const;
      for (const [name] of apps) await writeRandomFile(path.join(appsDir, id(`app-${name}`)), 64 * 1024, id(`app-${name}`));
      await insertRows(c, 'Apps', apps.map(([Name, stream]) => ({
        ID: id(`app-${Name}`), ModifiedByUserName: BY, Name, AppId: id(`app-${Name}`), FileSize: 64 * 1024, Published: true, PublishTime: new Date(),
        StreamID: id(`stream-${stream}`), OwnerID: owner, SavedInProductVersion: '14.187.4',
      })));
    }),
  );
}
