// The catalog of built-in runbooks (each loaded lazily by name).
import { registerRunbook } from './registry.js';

registerRunbook('services.start', async () => (await import('./services.js')).buildServicesStart);
registerRunbook('services.stop', async () => (await import('./services.js')).buildServicesStop);
registerRunbook('backup.create', async () => (await import('./backup-create.js')).buildBackupCreate);
registerRunbook('certs.export', async () => (await import('./certs.js')).buildCertsExport);
registerRunbook('certs.import', async () => (await import('./certs.js')).buildCertsImport);
registerRunbook('restore', async () => (await import('./restore.js')).buildRestore);
registerRunbook('restore.app', async () => (await import('./restore-app.js')).buildRestoreApp);
registerRunbook('restore.alerting', async () => (await import('./restore-alerting.js')).buildRestoreAlerting);
registerRunbook('certs.renew', async () => (await import('./certs-renew.js')).buildCertsRenew);
registerRunbook('db.harden', async () => (await import('./db-harden.js')).buildDbHarden);
registerRunbook('install', async () => (await import('./install.js')).buildInstall);
registerRunbook('uninstall', async () => (await import('./uninstall.js')).buildUninstall);
registerRunbook('cluster.join', async () => (await import('./cluster.js')).buildClusterJoin);
registerRunbook('cluster.remove', async () => (await import('./cluster.js')).buildClusterRemove);
registerRunbook('rules.import', async () => (await import('./rules-import.js')).buildRulesImport);
registerRunbook('db.upgrade', async () => (await import('./db-upgrade.js')).buildDbUpgrade);
registerRunbook('service-account', async () => (await import('./service-account.js')).buildServiceAccount);
registerRunbook('share.move', async () => (await import('./share-move.js')).buildShareMove);
registerRunbook('failover', async () => (await import('./failover.js')).buildFailover);
registerRunbook('upgrade', async () => (await import('./qlik-upgrade.js')).buildUpgrade);
registerRunbook('patch', async () => (await import('./qlik-patch.js')).buildPatch);
registerRunbook('repair', async () => (await import('./qlik-patch.js')).buildRepair);
