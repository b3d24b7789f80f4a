// Checks of the account qsadmin runs as, made while a runbook is built (before anything changes): the guide runs
// every procedure from an elevated prompt, and certificates as the service account (its CurrentUser stores). A failed
// check is bad input (exit 2) that says which node, which account, and what to do.
import type { NodeConfig } from '../site/model.js';
import type { Host, StoreRef } from '../host/types.js';
import { InputError } from '../runbook/errors.js';

/** Every node must run qsadmin's commands elevated; returns the identities seen. */
export async function requireElevated(hostOf: (node: string) => Promise<Host>, nodes: NodeConfig[], what: string): Promise<void> {
  const seen = await Promise.all(nodes.map(async (n) => ({ n, id: await (await hostOf(n.name)).machine.identity() })));
  const low = seen.filter((s) => !s.id.elevated);
  if (!low.length) return;
  throw new InputError(
    `${what} needs an elevated (administrator) process on ${low.map((s) => `${s.n.name} (runs as ${s.id.user}, not elevated)`).join(', ')}`,
    'start the shell with "Run as administrator" (with UAC on, an administrator\'s token is filtered until elevated); for another node, connect with an account that is an administrator there',
  );
}

/** Every store a certificate runbook opens must be open to qsadmin on its node. */
export async function requireStores(hostOf: (node: string) => Promise<Host>, nodes: NodeConfig[], stores: StoreRef[], what: string): Promise<void> {
  const problems: string[] = [];
  for (const n of nodes) {
    const h = await hostOf(n.name);
    for (const s of stores) {
      const why = await h.certs.reachable(s);
      if (why) problems.push(`${n.name}: ${why}`);
    }
  }
  if (problems.length) throw new InputError(`${what} cannot open the certificate stores it needs: ${[...new Set(problems)].join('; ')}`);
}

/** Run a build's checks; on failure release the hosts they opened (the runbook that would close them is never made). */
export async function checkedBuild(pool: { closeAll(): Promise<void> }, checks: () => Promise<void>): Promise<void> {
  try {
    await checks();
  } catch (e) {
    await pool.closeAll();
    throw e;
  }
}
