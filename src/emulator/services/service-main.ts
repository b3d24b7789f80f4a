// Entry point of an emulated Qlik service process (spawned detached by the emulated service control).
import { runGenericService } from './generic-service.js';
import { parseServiceArgs, ServiceRuntime } from './runtime.js';
import { readState, updateState } from './state.js';

// Run the service named on the command line until it is stopped.
async function main(): Promise<void> {
  const rt = new ServiceRuntime(parseServiceArgs(process.argv.slice(2)));
  rt.begin();
  const alerting = rt.site.alerting?.node === rt.node.name ? await import('../alerting/services.js') : null;
  const { alertingPaths } = await import('../../alerting/config.js');
  if (alerting && (rt.name as string) === 'MongoDB') {
    await alerting.runMongoStandIn(rt);
  } else if (alerting && rt.name === alertingPaths(rt.site.alerting!).gatewayService) {
    await alerting.runGateway(rt);
  } else if (rt.name === 'QlikSenseRepositoryService') {
    const { runRepositoryService } = await import('../qrs/main.js');
    await runRepositoryService(rt);
  } else {
    await runGenericService(rt);
  }
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`emulated service failed: ${message}\n`);
  try {
    const args = parseServiceArgs(process.argv.slice(2));
    if (readState(args.root, args.service)?.pid === process.pid) updateState(args.root, args.service, { state: 'stopped', ports: [], stoppedAt: new Date().toISOString(), error: message });
  } catch {
    // no usable arguments: the console log holds the error
  }
  process.exit(1);
});
