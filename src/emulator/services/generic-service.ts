// A Qlik service other than QRS, emulated: it listens on its documented ports and answers with who it is.
import http from 'node:http';
import { servicePorts } from './ports.js';
import type { ServiceRuntime } from './runtime.js';

// Serve every port of the service until stopped.
export async function runGenericService(rt: ServiceRuntime): Promise<void> {
  const ports = servicePorts(rt.site, rt.node, rt.name);
  for (const port of ports) {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ service: rt.name, hostname: rt.node.hostname, port, emulated: true }));
    });
    await rt.listen(server, port);
  }
  rt.running(`Service started, listening on ${rt.node.address} ports ${ports.join(', ')}`);
}
