// `qsadmin uninstall --silent [--cleanup]`: Qlik_Sense_setup.exe -s -uninstall with the setup file of the installed
// version (guide §4.1). Uninstalling the central node breaks its rims: refused while rims are registered unless
// --force. The local licence and any patches go with it, and --cleanup also deletes the certificates and
// ProgramData\Qlik\Sense (say so in the plan). A safety backup first is the operator's call: the plan says how.
import path from 'node:path';
import { openHost } from '../host/index.js';
import type { Host } from '../host/types.js';
import { describeSetupExit, normaliseExitCode } from '../install/exit-codes.js';
import { scanSetupLog } from '../install/setup-log.js';
import { centralQrs } from '../qrs/central.js';
import { InputError } from '../runbook/errors.js';
import type { Runbook, Step, StepContext } from '../runbook/step.js';
import { loadSiteConfig } from '../site/config.js';
import { findNode } from '../site/model.js';
import { requireElevated } from './operator-checks.js';
import type { BuildEnv } from './registry.js';

export interface UninstallInputs {
  sitePath: string;
  node: string;
  setup: string;
  cleanup?: boolean;
  force?: boolean;
}

interface UninstallContext extends StepContext {
  host: Host;
}

export async function buildUninstall(inputs: UninstallInputs, _env?: BuildEnv): Promise<Runbook<UninstallContext>> {
  const site = loadSiteConfig(inputs.sitePath);
  const node = findNode(site, inputs.node);
  const host = await openHost(site, node);
  try {
    await requireElevated(async () => host, [node], 'qsadmin uninstall');
    if (!(await host.machine.installedServices()).some((s) => s.name === 'QlikSenseRepositoryService')) throw new InputError(`Qlik Sense is not installed on ${node.hostname}`, 'nothing to uninstall');
    if (node.role === 'central' && !inputs.force) {
      const rims = (await (await centralQrs(site, host)).get<Array<{ hostName: string; isCentral: boolean }>>('/qrs/servernodeconfiguration/full')).filter((n) => !n.isCentral);
      if (rims.length) throw new InputError(`${rims.length} rim node(s) are registered with ${node.hostname} (${rims.map((r) => r.hostName).join(', ')}): uninstalling the central node breaks them`, 'remove them first (qsadmin cluster remove --rim <node>), or pass --force');
    }
  } catch (e) {
    await host.close();
    throw e;
  }
  const logFile = (ctx: StepContext) => `C:\\ProgramData\\qsadmin\\uninstall\\${ctx.runId}\\Qlik_Sense_setup.log`;
  const step: Step<UninstallContext> = {
    id: `uninstall.${node.name}`,
    title: `Run ${path.win32.basename(inputs.setup)} -s -uninstall${inputs.cleanup ? ' cleanup=1' : ''} on ${node.hostname}`,
    node: node.name,
    destructive: true,
    check: async (ctx) => !(await ctx.host.machine.installedServices()).some((s) => s.name === 'QlikSenseRepositoryService'),
    run: async (ctx) => {
      const r = await ctx.host.exec(inputs.setup, ['-s', '-uninstall', '-l', logFile(ctx), ...(inputs.cleanup ? ['cleanup=1'] : [])], { timeoutMs: 2 * 3600_000 });
      const code = normaliseExitCode(r.exitCode);
      if (code === 0) return;
      const found = scanSetupLog(await ctx.host.files.read(logFile(ctx)).then((b) => b.toString('utf8'), () => ''));
      throw new Error(`setup -uninstall exited ${code} (${describeSetupExit(code).meaning}, guide §8.11)${found.errors.length ? `\nlog: ${found.errors.slice(-3).join('\nlog: ')}` : ''}\nsetup log: ${logFile(ctx)}`);
    },
  };
  return {
    name: 'uninstall',
    site: inputs.sitePath,
    lockKey: `qlik-node:${node.hostname.toLowerCase()}|${node.root ?? node.address}`,
    inputs: { ...inputs },
    notes: [
      `Uninstalling Qlik Sense from ${node.hostname}: the local licence and any patches are removed with it (guide §4.1)`,
      inputs.cleanup ? 'cleanup=1: the Qlik certificates and ProgramData\\Qlik\\Sense are deleted too (take qsadmin certs export and backup create first)' : 'the certificates and ProgramData\\Qlik\\Sense stay (add --cleanup to delete them)',
      ...(inputs.force && node.role === 'central' ? ['--force: registered rim nodes will stop working'] : []),
    ],
    items: [step],
    context: (base) => ({ ...base, host }),
    close: () => host.close(),
  };
}
