// Ports each emulated service listens on: the documented ports (src/site/services.ts) plus the node's port offset.
import type { NodeConfig, SiteConfig } from '../../site/model.js';
import { isDatabaseService, QRS_API_PORT, QRS_STATE_PORT, QRS_UNLOCK_PORT, serviceFact, type ServiceName } from '../../site/services.js';
import { emulatorOptions } from './options.js';

const HTTP_PORT = 80; // QPS plain HTTP, only with EnableHttpPort (guide §4, spc EnableHttpPort(false))

// A documented port moved by the node's offset.
export function nodePort(node: NodeConfig, port: number): number {
  return port + (node.portOffset ?? 0);
}

// Every port the named service listens on when it runs on this node.
export function servicePorts(site: SiteConfig, node: NodeConfig, name: ServiceName): number[] {
  if (isDatabaseService(name)) return [site.database.port];
  const fact = serviceFact(name);
  if (!fact) throw new Error(`unknown service ${name}`);
  const ports = [...fact.ports];
  if (name === 'QlikSenseProxyService' && emulatorOptions(site).enableHttpPort) ports.unshift(HTTP_PORT);
  return ports.map((p) => nodePort(node, p));
}

// The QRS ports of a node: REST API (4242), service state (4444), certificate unlock (4570).
export function repositoryPorts(node: NodeConfig): { api: number; state: number; unlock: number } {
  return { api: nodePort(node, QRS_API_PORT), state: nodePort(node, QRS_STATE_PORT), unlock: nodePort(node, QRS_UNLOCK_PORT) };
}
