// The catalog of built-in runbooks (each loaded lazily by name).
import { registerRunbook } from './registry.js';

registerRunbook('services.start', async () => (await import('./services.js')).buildServicesStart);
registerRunbook('services.stop', async () => (await import('./services.js')).buildServicesStop);
registerRunbook('backup.create', async () => (await import('./backup-create.js')).buildBackupCreate);
registerRunbook('certs.export', async () => (await import('./certs.js')).buildCertsExport);
registerRunbook('certs.import', async () => (await import('./certs.js')).buildCertsImport);
registerRunbook('restore', async () => (await import('./restore.js')).buildRestore);
registerRunbook('restore.app', async () => (await import('./restore-app.js')).buildRestoreApp);
registerRunbook('install', async () => (await import('./install.js')).buildInstall);
registerRunbook('uninstall', async () => (await import('./uninstall.js')).buildUninstall);
registerRunbook('cluster.join', async () => (await import('./cluster.js')).buildClusterJoin);
registerRunbook('cluster.remove', async () => (await import('./cluster.js')).buildClusterRemove);
registerRunbook('rules.import', async () => (await import('./rules-import.js')).buildRulesImport);
